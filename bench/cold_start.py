"""Cold start: a fresh process importing the handler and processing one event, against a boto3 baseline.

Every sample is a new ``python -c`` process, timed by this (parent) process from
spawn to exit, so interpreter start, imports, client creation and the network
round trips are all in it, as in a Lambda cold start. Kinds are interleaved in a
rotating order each round so drift (thermal, other load) hits them all alike.

AWS is never contacted: moto runs in this process, and the children get
``AWS_ENDPOINT_URL`` and fake credentials, so baseline and subject both speak
real HTTP to the same local endpoint.

Run alone with ``python -m bench.cold_start [--rounds N]``; ``scripts/bench.sh`` runs everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.common import BenchError, Goal, Spread, child_env, ms, quiet_moto, write_results

#: The event the subject processes: a failed job, so it also reads a log tail (the common alert path).
EVENT = "stopped-nonzero-exit"
GOAL_RATIO = 1.3
#: Installed in .venv for dev tools (SAM CLI) but not shipped by the Lambda Python runtime; botocore
#: and urllib3 import them whenever they are present. ``--lambda-like`` hides them from the children.
NOT_IN_LAMBDA = ("awscrt", "OpenSSL")
_HIDE = """\
import sys


class _NotInLambda:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"{{name}} is hidden by bench --lambda-like", name=name)
        return None


sys.meta_path.insert(0, _NotInLambda())
"""

# Each child writes what it saw (phase timings, client and call counts) as JSON to argv[1], then leaves
# with os._exit: a Lambda sandbox is frozen after its first invoke, never torn down, so interpreter
# finalisation (50-150 ms of module teardown here) is no part of a cold start and would blur the ratio.
_EXIT = "sys.stdout.flush()\nimport os\nos._exit({code})\n"
_BASELINE = """\
import time
t0 = time.perf_counter()
import boto3
t1 = time.perf_counter()
ecs = boto3.client("ecs")
t2 = time.perf_counter()
ecs.describe_clusters(clusters=["batch"])
t3 = time.perf_counter()
import json, sys
with open(sys.argv[1], "w") as out:
    json.dump({"import": t1 - t0, "client": t2 - t1, "call": t3 - t2, "clients": 1, "calls": 1}, out)
""" + _EXIT.format(code=0)

_SUBJECT = """\
import time
t0 = time.perf_counter()
from ecswatch.handlers.task_events import dependencies, lambda_handler
t1 = time.perf_counter()
import json, sys
from local.lambda_runtime import LambdaContext
with open(sys.argv[2]) as f:
    event = json.load(f)
response = lambda_handler(event, LambdaContext())
t2 = time.perf_counter()
deps = dependencies()
failed = len(response["batchItemFailures"])
with open(sys.argv[1], "w") as out:
    json.dump({"import": t1 - t0, "event": t2 - t1, "clients": len(deps.clients),
               "describe_task_definition": deps.task_definitions.calls, "get_log_events": deps.logs.calls,
               "calls": deps.task_definitions.calls + deps.logs.calls, "failed_records": failed}, out)
""" + _EXIT.format(code="3 if failed else 0")

_IMPORT_ONLY = """\
import time
t0 = time.perf_counter()
import ecswatch.handlers.task_events
t1 = time.perf_counter()
import json, sys
with open(sys.argv[1], "w") as out:
    json.dump({"import": t1 - t0}, out)
""" + _EXIT.format(code=0)


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    code: str


BASELINE = Kind("baseline", "baseline: import boto3 + ecs client + DescribeClusters", _BASELINE)
SUBJECT = Kind("subject", "subject: handler + 1 SQS-wrapped event", _SUBJECT)
IMPORT_ONLY = Kind("import_only", "import ecswatch.handlers.task_events only", _IMPORT_ONLY)
INTERPRETER = Kind("interpreter", "bare interpreter start (the floor)", "import sys\n" + _EXIT.format(code=0))
KINDS = (BASELINE, SUBJECT, IMPORT_ONLY, INTERPRETER)


@dataclass(frozen=True)
class KindResult:
    label: str
    wall: Spread
    ratio_to_baseline: float
    #: Median seconds of each phase the child timed itself (import, client, call, event).
    phases: dict[str, float]
    #: What the child did, from its last run: clients created and AWS calls made.
    work: dict[str, int]


@dataclass(frozen=True)
class ColdStart:
    rounds: int
    event: str
    endpoint: str
    lambda_like: bool
    kinds: dict[str, KindResult]

    @property
    def ratio(self) -> float:
        return self.kinds[SUBJECT.key].ratio_to_baseline

    @property
    def goal(self) -> Goal:
        return Goal("cold start vs boto3 baseline", self.ratio, GOAL_RATIO, "x", higher_is_better=False)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "goal": {**asdict(self.goal), "verdict": self.goal.verdict},
        }


def measure(rounds: int = 15, warmup: int = 2, *, lambda_like: bool = False) -> ColdStart:
    """``warmup`` unrecorded rounds first: byte-code caches, page cache and moto's lazy backends settle."""
    from local.aws import moto_server, seed_all
    from local.lambda_runtime import sqs_batch

    quiet_moto()
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="ecswatch-bench-") as tmp:
        seed_all()
        event_file = Path(tmp) / "event.json"
        event = json.loads((ROOT / "events" / f"{EVENT}.json").read_text())
        event_file.write_text(json.dumps(sqs_batch(event)))
        env = child_env()
        if lambda_like:
            hide = Path(tmp) / "lambda_like"
            hide.mkdir()
            (hide / "sitecustomize.py").write_text(_HIDE.format(hidden=NOT_IN_LAMBDA))
            env["PYTHONPATH"] = os.pathsep.join([str(hide), env["PYTHONPATH"]])
        walls: dict[str, list[float]] = {k.key: [] for k in KINDS}
        phases: dict[str, list[dict[str, float]]] = {k.key: [] for k in KINDS}
        for round_no in range(warmup + rounds):
            shift = round_no % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                wall, seen = _spawn(kind, env, Path(tmp), event_file)
                if round_no >= warmup:
                    walls[kind.key].append(wall)
                    phases[kind.key].append(seen)
    return _summarise(rounds, endpoint, walls, phases, lambda_like=lambda_like)


def _spawn(kind: Kind, env: dict[str, str], tmp: Path, event_file: Path) -> tuple[float, dict[str, float]]:
    out = tmp / f"{kind.key}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-c", kind.code, str(out), str(event_file)]
    start = time.perf_counter()
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise BenchError(f"{kind.label} exited {done.returncode}:\n{tail}")
    seen: dict[str, float] = json.loads(out.read_text()) if out.exists() else {}
    return wall, seen


def _summarise(
    rounds: int,
    endpoint: str,
    walls: dict[str, list[float]],
    phases: dict[str, list[dict[str, float]]],
    *,
    lambda_like: bool,
) -> ColdStart:
    baseline = Spread.of(walls[BASELINE.key]).median
    results = {}
    for kind in KINDS:
        spread = Spread.of(walls[kind.key])
        seen = phases[kind.key]
        timed = [name for name, value in seen[-1].items() if isinstance(value, float)]
        median_phases = {name: Spread.of([s[name] for s in seen]).median for name in timed}
        work = {name: int(value) for name, value in seen[-1].items() if isinstance(value, int)}
        results[kind.key] = KindResult(kind.label, spread, spread.median / baseline, median_phases, work)
    return ColdStart(rounds=rounds, event=EVENT, endpoint=endpoint, lambda_like=lambda_like, kinds=results)


def report(result: ColdStart) -> str:
    base = result.kinds[BASELINE.key]
    subject = result.kinds[SUBJECT.key]
    lines = [
        f"Cold start: {result.rounds} rounds of fresh processes, kinds interleaved; wall time from spawn"
        " until the child's work is done (teardown excluded: Lambda freezes, never tears down).",
        f"All children talk HTTP to the same local moto endpoint ({result.endpoint}); AWS is not contacted.",
        (
            f"  --lambda-like: {', '.join(NOT_IN_LAMBDA)} hidden, as in the Lambda runtime"
            if result.lambda_like
            else f"  {', '.join(NOT_IN_LAMBDA)} importable if installed (see --lambda-like)"
        ),
        f"  baseline: {base.work.get('clients', 0)} client, {base.work.get('calls', 0)} AWS call "
        "(DescribeClusters) = 1 network round trip",
        f"  subject:  lambda_handler on 1 SQS record ({result.event}): "
        f"{subject.work.get('clients', 0)} clients, {subject.work.get('calls', 0)} AWS calls "
        f"({subject.work.get('describe_task_definition', 0)} DescribeTaskDefinition + "
        f"{subject.work.get('get_log_events', 0)} GetLogEvents) = "
        f"{subject.work.get('calls', 0)} network round trips",
        "",
        f"  {'kind':<58}{'median':>10}{'p90':>11}{'x baseline':>12}",
    ]
    for kind in KINDS:
        r = result.kinds[kind.key]
        lines.append(
            f"  {r.label:<58}{ms(r.wall.median):>10}{ms(r.wall.p90):>11}{r.ratio_to_baseline:>11.2f}x"
        )
    lines += ["", "  where the time goes (medians the children timed themselves):"]
    for kind in (BASELINE, SUBJECT, IMPORT_ONLY):
        r = result.kinds[kind.key]
        parts = ", ".join(f"{name} {ms(seconds).strip()}" for name, seconds in r.phases.items())
        lines.append(f"    {kind.key:<12} {parts}")
    lines += ["", "  " + result.goal.line()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15, help="recorded rounds per kind (default 15)")
    parser.add_argument("--lambda-like", action="store_true", help=f"hide {', '.join(NOT_IN_LAMBDA)}")
    args = parser.parse_args(argv)
    result = measure(rounds=args.rounds, lambda_like=args.lambda_like)
    print(report(result))
    print(f"\nresults: {write_results({'cold_start': result.to_json()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
