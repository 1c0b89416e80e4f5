"""The jobs file against the stack it is deployed with: what a job asks for that the stack forbids.

A job with retries, or one a dependency chain starts (``launch:``), needs ``ecs:RunTask`` on its
task definition family, which the stack grants only for the families in its
``RetryTaskDefinitionFamilies`` parameter. A job whose family is missing there deploys fine and
then has every retry refused at 3 a.m. So the config check reads the parameter overrides of the
``samconfig.toml`` that deploys the file (the nearest one above it), and names each job and the
parameter to set. PassRole for the task's roles cannot be read from the jobs file (the roles live
in the task definition): ``ecswatch doctor`` checks it against the deployed stack.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path

from ecswatch.config.model import JobConfig, JobsConfig

SAMCONFIG = "samconfig.toml"
FAMILIES_PARAMETER = "RetryTaskDefinitionFamilies"
_OVERRIDE = re.compile(r"^(?P<name>[A-Za-z0-9]+)=(?P<value>.*)$")


def find_samconfig(jobs_file: str | Path) -> Path | None:
    """The nearest ``samconfig.toml`` in the jobs file's folder or above it, if any."""
    for folder in Path(jobs_file).resolve().parents:
        candidate = folder / SAMCONFIG
        if candidate.is_file():
            return candidate
    return None


def parameter_overrides(samconfig: Path, environment: str = "default") -> dict[str, str]:
    """``[<environment>.deploy.parameters] parameter_overrides`` as a mapping (list or string form)."""
    data = tomllib.loads(samconfig.read_text(encoding="utf-8"))
    raw = data.get(environment, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", [])
    items = raw if isinstance(raw, list) else re.findall(r'\S+="[^"]*"|\S+=\S+', str(raw))
    found: dict[str, str] = {}
    for item in items:
        match = _OVERRIDE.match(str(item).strip())
        if match:
            found[match["name"]] = match["value"].strip().strip('"')
    return found


def deployment_problems(config: JobsConfig, overrides: Mapping[str, str], where: str) -> list[str]:
    """One line per job that needs RunTask on a family the stack does not grant."""
    granted = [f.strip() for f in overrides.get(FAMILIES_PARAMETER, "").split(",") if f.strip()]
    problems = []
    for job in config.jobs:
        for path, family in _families_needed(job):
            if not any(fnmatchcase(name, family) for name in granted):
                problems.append(
                    f"{config.source}: jobs.{job.name}.{path}: family {family!r} is not in "
                    f"{FAMILIES_PARAMETER} ({where}): add it to parameter_overrides, or every "
                    f"{'retry' if path == 'retry' else 'chained start'} of this job is refused"
                )
    return problems


def _families_needed(job: JobConfig) -> list[tuple[str, str]]:
    """(field, family glob) for each way the job is started by ecswatch: its retries, its launch."""
    needed = []
    if job.retry.attempts > 1 and job.match.family:
        needed.append(("retry", job.match.family))
    if job.launch is not None and job.launch.family:
        needed.append(("launch", job.launch.family))
    return needed
