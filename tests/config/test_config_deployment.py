"""Specification of the config check against ``samconfig.toml`` (``ecswatch.config.deployment``):
a job ecswatch would retry or start, whose family the stack grants no ``ecs:RunTask``, is an error
naming the job and the parameter, before it is deployed and every retry is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecswatch.config.__main__ import main
from ecswatch.config.deployment import find_samconfig, parameter_overrides

JOBS = """\
jobs:
  invoice-export:
    match: {family: invoice-export}
    retry:
      attempts: 3
      evaluate_on_exit: [{on_reason: "*", action: RETRY}]
  report:
    match: {family: nightly-report}
"""


def _deployment(tmp_path: Path, families: str, *, form: str = "list") -> Path:
    if form == "list":
        overrides = (
            f'parameter_overrides = ["RetryTaskDefinitionFamilies=\\"{families}\\"", "LogTailLines=\\"30\\""]'
        )
    else:
        overrides = f'parameter_overrides = "RetryTaskDefinitionFamilies=\\"{families}\\" LogTailLines=30"'
    (tmp_path / "samconfig.toml").write_text(
        f'version = 0.1\n[default.deploy.parameters]\ncapabilities = "CAPABILITY_IAM"\n{overrides}\n'
    )
    jobs = tmp_path / "src" / "jobs.yaml"
    jobs.parent.mkdir()
    jobs.write_text(JOBS)
    return jobs


def test_a_retried_job_whose_family_the_stack_does_not_grant_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = _deployment(tmp_path, "")

    assert main([str(jobs)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{jobs}: jobs.invoice-export.retry: family 'invoice-export' is not in RetryTaskDefinitionFamilies"
        in err
    )
    assert "report" not in err  # not retried: needs no RunTask
    assert not (tmp_path / "src" / "jobs.compiled.json").exists()


@pytest.mark.parametrize("form", ["list", "string"])
def test_a_granted_family_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    jobs = _deployment(tmp_path, "nightly-report,invoice-export", form=form)

    assert main([str(jobs)]) == 0
    assert "RetryTaskDefinitionFamilies" not in capsys.readouterr().err


def test_the_nearest_samconfig_above_the_jobs_file_is_the_deployment(tmp_path: Path) -> None:
    jobs = _deployment(tmp_path, "a,b")

    assert find_samconfig(jobs) == tmp_path / "samconfig.toml"
    assert parameter_overrides(tmp_path / "samconfig.toml")["RetryTaskDefinitionFamilies"] == "a,b"


def test_the_repositorys_own_samconfig_deploys_the_shipped_file_cleanly() -> None:
    root = Path(__file__).resolve().parents[2]

    assert main(["--check", str(root / "src" / "ecswatch" / "config" / "jobs.yaml")]) == 0
