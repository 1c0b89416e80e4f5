"""What the benchmarks share: robust summaries, goals, the children's environment, the results file.

Timings on a shared machine are noisy, so every number is a median (and p90) of
many samples, and every headline is a ratio to a baseline measured in the same
run: a slower machine moves both, the ratio stays.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import ROOT

RESULTS_FILE = ROOT / "bench" / "results" / "latest.json"
_PACKAGES = ("boto3", "botocore", "aws-lambda-powertools", "moto", "awscrt")


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to (a child failed, a check did not hold)."""


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of one kind of sample, in the samples' unit."""

    n: int
    median: float
    p90: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            raise BenchError("no samples to summarise")
        if len(samples) == 1:
            return cls(1, samples[0], samples[0])
        p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1]
        return cls(len(samples), statistics.median(samples), p90)


@dataclass(frozen=True)
class Goal:
    """A target to report against. A miss is news for a person, never a failed process."""

    name: str
    measured: float
    target: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.measured >= self.target if self.higher_is_better else self.measured <= self.target

    @property
    def verdict(self) -> str:
        return "PASS" if self.met else "MISS"

    @property
    def wanted(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {_number(self.target)}{self.unit}"

    def line(self) -> str:
        return f"{self.verdict}  {self.name}: {_number(self.measured)}{self.unit} (goal {self.wanted})"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def quiet_moto() -> None:
    """moto's werkzeug server logs every request to stderr; the benchmark's output is the point."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def child_env() -> dict[str, str]:
    """The environment of every child: this process's (moto endpoint, fake credentials) plus the Lambda's.

    Shared config and credential files are hidden so a developer's ~/.aws neither
    costs parse time nor leaks in; Lambda has none either.
    """
    env = dict(os.environ)
    for noisy in ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONINSPECT"):
        env.pop(noisy, None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["POWERTOOLS_SERVICE_NAME"] = "ecswatch"
    env["POWERTOOLS_METRICS_NAMESPACE"] = "ecswatch"
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "commit": _commit(),
        "packages": versions,
    }


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def write_results(sections: Mapping[str, Any], path: Path = RESULTS_FILE) -> Path:
    """One file per run, replaced each time: numbers from different runs must never be mixed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), **sections}
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path
