"""Cold start: a fresh process importing the handler and processing one event, against a boto3 baseline.

Every sample is a new ``python -c`` process, timed by this (parent) process from
spawn to exit, so interpreter start, imports, client creation and the network
round trips are all in it, as in a Lambda cold start. Kinds are interleaved in a
rotating order each round so drift (thermal, other load) hits them all alike.

AWS is never contacted: moto runs in this process, and the children get
``AWS_ENDPOINT_URL`` and fake credentials, so baseline and subject both speak
real HTTP to the same local endpoint.

Two cold-start figures: ``subject`` is the handler analysing the event with no sink configured
(what the goal is judged on: our code's own cost); ``alerts`` is the same event through the whole
alert path as deployed, configured by ``local.stack.offline_stack``: the secrets read from SSM and
Secrets Manager, the state table, the Slack post and the Datadog event and metrics, to the local
capturing endpoints. That is the number a user feels. The state table is emptied before each
``alerts`` sample, so every one is a first failure after a quiet spell (no idempotency record, no
storm to join), and the parent checks that each sample really posted to Slack and Datadog.

Run alone with ``python -m bench.cold_start [--rounds N]``; ``scripts/bench.sh`` runs everything.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from bench import ROOT
from bench.common import BenchError, Goal, Spread, child_env, ms, quiet_moto, write_results

if TYPE_CHECKING:
    from local.stack import Stack

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
    #: Run with the alert path configured (Slack, Datadog, secrets, state) on local endpoints.
    alerts: bool = False


BASELINE = Kind("baseline", "baseline: import boto3 + ecs client + DescribeClusters", _BASELINE)
SUBJECT = Kind("subject", "subject: handler + 1 SQS-wrapped event", _SUBJECT)
ALERTS = Kind("alerts", "subject + alert path: Slack post, Datadog event", _SUBJECT, alerts=True)
IMPORT_ONLY = Kind("import_only", "import ecswatch.handlers.task_events only", _IMPORT_ONLY)
INTERPRETER = Kind("interpreter", "bare interpreter start (the floor)", "import sys\n" + _EXIT.format(code=0))
KINDS = (BASELINE, SUBJECT, ALERTS, IMPORT_ONLY, INTERPRETER)
#: What ``offline_stack`` sets to switch the alert path on; only the ``alerts`` kind gets them.
ALERT_VARIABLES = (
    "STATE_TABLE_NAME",
    "SLACK_TOKEN_PARAMETER",
    "DATADOG_API_KEY_PARAMETER",
    "SLACK_DEFAULT_CHANNEL",
    "SLACK_API_URL",
    "DATADOG_API_URL",
)


@dataclass(frozen=True)
class KindResult:
    label: str
    wall: Spread
    ratio_to_baseline: float
    #: Median seconds of each phase the child timed itself (import, client, call, event).
    phases: dict[str, float]
    #: What the child did, from its last run: clients created and AWS calls made.
    work: dict[str, int]
    #: Median CPU seconds (user + system) of the child, and that / the baseline's: steadier than
    #: wall time when other processes share the machine, since waiting for a core is not in it.
    cpu: float = 0.0
    cpu_ratio_to_baseline: float = 0.0


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
    def alerts_ratio(self) -> float:
        return self.kinds[ALERTS.key].ratio_to_baseline

    @property
    def goal(self) -> Goal:
        return Goal("cold start vs boto3 baseline", self.ratio, GOAL_RATIO, "x", higher_is_better=False)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio": self.ratio,
            "alerts_ratio": self.alerts_ratio,
            "goal": {**asdict(self.goal), "verdict": self.goal.verdict},
        }


def measure(rounds: int = 15, warmup: int = 2, *, lambda_like: bool = False) -> ColdStart:
    """``warmup`` unrecorded rounds first: byte-code caches, page cache and moto's lazy backends settle."""
    from local.lambda_runtime import sqs_batch
    from local.stack import offline_stack

    quiet_moto()
    with offline_stack() as stack, tempfile.TemporaryDirectory(prefix="ecswatch-bench-") as tmp:
        event_file = Path(tmp) / "event.json"
        event = json.loads((ROOT / "events" / f"{EVENT}.json").read_text())
        event_file.write_text(json.dumps(sqs_batch(event)))
        alert_env = child_env()
        if lambda_like:
            hide = Path(tmp) / "lambda_like"
            hide.mkdir()
            (hide / "sitecustomize.py").write_text(_HIDE.format(hidden=NOT_IN_LAMBDA))
            alert_env["PYTHONPATH"] = os.pathsep.join([str(hide), alert_env["PYTHONPATH"]])
        env = {k: v for k, v in alert_env.items() if k not in ALERT_VARIABLES}
        walls: dict[str, list[float]] = {k.key: [] for k in KINDS}
        phases: dict[str, list[dict[str, Any]]] = {k.key: [] for k in KINDS}
        for round_no in range(warmup + rounds):
            shift = round_no % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                if kind.alerts:
                    wall, seen = _spawn_alerts(kind, alert_env, Path(tmp), event_file, stack)
                else:
                    wall, seen = _spawn(kind, env, Path(tmp), event_file)
                if round_no >= warmup:
                    walls[kind.key].append(wall)
                    phases[kind.key].append(seen)
    return _summarise(rounds, stack.aws_endpoint, walls, phases, lambda_like=lambda_like)


def _spawn_alerts(
    kind: Kind, env: dict[str, str], tmp: Path, event_file: Path, stack: Stack
) -> tuple[float, dict[str, Any]]:
    """One ``alerts`` sample on an empty state table; it must post to Slack and send a Datadog event."""
    from local.stack import STATE_TABLE, create_state_table

    boto3.client("dynamodb").delete_table(TableName=STATE_TABLE)
    create_state_table()
    posts, events = len(stack.slack.messages()), len(stack.datadog.events())
    wall, seen = _spawn(kind, env, tmp, event_file)
    seen["slack_posts"] = len(stack.slack.messages()) - posts
    seen["datadog_events"] = len(stack.datadog.events()) - events
    if not (seen["slack_posts"] and seen["datadog_events"]):
        raise BenchError(f"{kind.label}: no Slack post or Datadog event arrived: {seen}")
    return wall, seen


def _spawn(kind: Kind, env: dict[str, str], tmp: Path, event_file: Path) -> tuple[float, dict[str, Any]]:
    out = tmp / f"{kind.key}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-c", kind.code, str(out), str(event_file)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise BenchError(f"{kind.label} exited {done.returncode}:\n{tail}")
    seen: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    # Only one child runs at a time (moto and the fake endpoints are threads of this process).
    seen["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, seen


def _summarise(
    rounds: int,
    endpoint: str,
    walls: dict[str, list[float]],
    phases: dict[str, list[dict[str, Any]]],
    *,
    lambda_like: bool,
) -> ColdStart:
    baseline = Spread.of(walls[BASELINE.key]).median
    baseline_cpu = Spread.of([s["cpu"] for s in phases[BASELINE.key]]).median
    results = {}
    for kind in KINDS:
        spread = Spread.of(walls[kind.key])
        seen = phases[kind.key]
        cpu = Spread.of([s["cpu"] for s in seen]).median
        timed = [name for name, value in seen[-1].items() if isinstance(value, float) and name != "cpu"]
        median_phases = {name: Spread.of([s[name] for s in seen]).median for name in timed}
        work = {name: int(value) for name, value in seen[-1].items() if isinstance(value, int)}
        results[kind.key] = KindResult(
            kind.label, spread, spread.median / baseline, median_phases, work, cpu, cpu / baseline_cpu
        )
    return ColdStart(rounds=rounds, event=EVENT, endpoint=endpoint, lambda_like=lambda_like, kinds=results)


def report(result: ColdStart) -> str:
    base = result.kinds[BASELINE.key]
    subject = result.kinds[SUBJECT.key]
    alerts = result.kinds[ALERTS.key]
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
        f"  alerts:   the same, with Slack, Datadog, secrets and state on local endpoints: "
        f"{alerts.work.get('slack_posts', 0)} Slack post, {alerts.work.get('datadog_events', 0)} Datadog "
        "event (and the metrics flush, secrets and state calls) per sample, on an empty state table",
        "",
        f"  {'kind':<56}{'median':>10}{'p90':>11}{'x baseline':>12}{'cpu':>10}{'cpu x':>8}",
    ]
    for kind in KINDS:
        r = result.kinds[kind.key]
        lines.append(
            f"  {r.label:<56}{ms(r.wall.median):>10}{ms(r.wall.p90):>11}{r.ratio_to_baseline:>11.2f}x"
            f"{ms(r.cpu):>10}{r.cpu_ratio_to_baseline:>7.2f}x"
        )
    lines += ["", "  where the time goes (medians the children timed themselves):"]
    for kind in (BASELINE, SUBJECT, ALERTS, IMPORT_ONLY):
        r = result.kinds[kind.key]
        parts = ", ".join(f"{name} {ms(seconds).strip()}" for name, seconds in r.phases.items())
        lines.append(f"    {kind.key:<12} {parts}")
    lines += [
        "",
        "  " + result.goal.line(),
        f"        cold start with the whole alert path: {result.alerts_ratio:.2f}x "
        f"({ms(alerts.wall.median).strip()} vs {ms(base.wall.median).strip()}): "
        "the number users feel (no goal)",
    ]
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
