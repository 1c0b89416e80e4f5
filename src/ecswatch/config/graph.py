"""Dependency chains between jobs (``on_success``/``on_failure``), checked as a whole.

A job's own fields can be read one by one; its chain links cannot: a target must exist, must be
launchable (RunTask needs ``launch``, and a network on Fargate), the runs a ``launch`` starts must
be recognised as their own job again, and no chain may lead back to where it started. The
validator (:mod:`ecswatch.config.loader`) runs these checks after reading every job. The functions
never do: they read a config that passed them (:mod:`ecswatch.config.compiled`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from ecswatch.config.model import JobConfig, LaunchConfig

CHAIN_FIELDS = ("on_success", "on_failure")

#: One problem: the path in the file (``jobs.<job>.<field>``) and what is wrong there.
Problem = tuple[str, str]


def chain_problems(jobs: Sequence[JobConfig]) -> list[Problem]:
    """Chain targets exist and can be launched, and no chain leads back to where it started."""
    problems: list[Problem] = []
    by_name = {job.name: job for job in jobs}
    started_by: dict[str, str] = {}
    for job in jobs:
        for key in CHAIN_FIELDS:
            for i, target in enumerate(getattr(job, key)):
                if target in by_name:
                    started_by.setdefault(target, f"jobs.{job.name}.{key}")
                else:
                    problems.append((f"jobs.{job.name}.{key}[{i}]", _unknown_job(target, list(by_name))))
    for job in jobs:
        if job.launch is not None:
            problems += _launch_mismatch(job, job.launch)
    for target, starter in started_by.items():
        problems += _unlaunchable(by_name[target], starter)
    for cycle, key in chain_cycles(jobs, by_name):
        problems.append(
            (
                f"jobs.{cycle[0]}.{key}",
                f"chain cycle {' -> '.join(cycle)}: each run would start the next one forever; "
                "remove one of these links",
            )
        )
    return problems


def _unknown_job(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"no job named {name!r} (did you mean {close[0]!r}?)"
    return f"no job named {name!r} in this file"


def _launch_mismatch(job: JobConfig, launch: LaunchConfig) -> list[Problem]:
    """A launched task that its own job's match rules miss would be alerted as some other job."""
    problems: list[Problem] = []
    path = f"jobs.{job.name}.launch"
    family = launch.family
    if family and job.match.family and not fnmatchcase(family, job.match.family):
        problems.append(
            (
                f"{path}.task_definition",
                f"family {family!r} does not match match.family {job.match.family!r}: "
                f"the runs it starts would not be recognised as {job.name}",
            )
        )
    cluster = launch.cluster_name
    if cluster and job.match.cluster and not fnmatchcase(cluster, job.match.cluster):
        problems.append(
            (
                f"{path}.cluster",
                f"cluster {cluster!r} does not match match.cluster {job.match.cluster!r}: "
                f"the runs it starts would not be recognised as {job.name}",
            )
        )
    return problems


def _unlaunchable(job: JobConfig, starter: str) -> list[Problem]:
    if job.launch is None:
        return [
            (
                f"jobs.{job.name}.launch",
                f"is required: {starter} starts {job.name}, and RunTask needs at least "
                "launch.task_definition and launch.cluster",
            )
        ]
    if job.launch.is_fargate and job.network is None:
        return [
            (
                f"jobs.{job.name}.network",
                f"is required: {starter} starts {job.name} on Fargate, "
                "and RunTask needs its subnets (awsvpc)",
            )
        ]
    return []


def chain_cycles(
    jobs: Sequence[JobConfig], by_name: Mapping[str, JobConfig]
) -> list[tuple[tuple[str, ...], str]]:
    """Each cycle found (as job names, first repeated last) with the field of its first link.

    Both kinds of link count: a clean-up job started on failure that starts the failed job again
    on success loops just as well. A depth-first search reports one cycle per back edge, which
    finds every job that is on some cycle; configs are small, so that is cheap.
    """
    cycles: list[tuple[tuple[str, ...], str]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def edges(name: str) -> list[str]:
        job = by_name[name]
        return [t for t in dict.fromkeys((*job.on_success, *job.on_failure)) if t in by_name]

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in edges(name):
            if state.get(target) == 1:
                loop = path[path.index(target) :]
                links = frozenset(zip(loop, [*loop[1:], loop[0]], strict=True))
                if links not in seen:
                    seen.add(links)
                    first = by_name[loop[0]]
                    key = "on_success" if loop[(1 % len(loop))] in first.on_success else "on_failure"
                    cycles.append(((*loop, loop[0]), key))
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for job in jobs:
        if job.name not in state:
            visit(job.name)
    return cycles
