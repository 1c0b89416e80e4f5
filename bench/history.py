"""What recording run history costs: extra AWS calls per event, measured against the same burst without it.

Every run sends two events (RUNNING, then STOPPED), half of the runs succeed. The burst goes through
the real ``ecswatch.handlers.task_events.lambda_handler`` in SQS batches of 10 over the offline stack twice:
once with the history recorder switched off and once with it on (fresh task ids and job names each
time, so neither pass finds the other's idempotency records or storm windows). Every DynamoDB call
is counted by operation, and the calls that touch history items (``pk = JOB#...`` or the ``gsi1``
index) are counted on their own.

Goal: one history write per event. Reads: one Query per successful stop (the slow-run check reads the
job's recent successes), none for starts and failures.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import Goal, quiet_moto

BATCH_SIZE = 10


@dataclass(frozen=True)
class Pass:
    events: int
    seconds: float
    dynamodb_calls: dict[str, int]
    history_writes: int
    history_reads: int
    failed_records: int

    @property
    def calls_per_event(self) -> float:
        return sum(self.dynamodb_calls.values()) / self.events


@dataclass(frozen=True)
class HistoryCost:
    runs: int
    jobs: int
    successes: int
    without: Pass
    with_history: Pass

    @property
    def events(self) -> int:
        return self.with_history.events

    @property
    def extra_calls_per_event(self) -> float:
        return self.with_history.calls_per_event - self.without.calls_per_event

    @property
    def writes_per_event(self) -> float:
        return self.with_history.history_writes / self.events

    @property
    def reads_per_successful_stop(self) -> float:
        return self.with_history.history_reads / self.successes if self.successes else 0.0

    @property
    def goal(self) -> Goal:
        return Goal("history writes per event", self.writes_per_event, 1, "", higher_is_better=False)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "extra_calls_per_event": self.extra_calls_per_event,
            "writes_per_event": self.writes_per_event,
            "reads_per_successful_stop": self.reads_per_successful_stop,
            "goal": self.goal.line(),
        }


def run_events(runs: int, jobs: int, tag: str) -> list[dict[str, Any]]:
    """``runs`` runs of ``jobs`` jobs: a RUNNING event, then a STOPPED one; every other run fails."""
    from local.aws import load_event

    running = load_event("running-fargate")
    stops = [load_event("stopped-success"), load_event("stopped-nonzero-exit")]
    events = []
    for i in range(runs):
        task_id = f"{tag}{i:028x}"[-32:].rjust(32, "0")
        family = f"history-{tag}-job-{i % jobs}"  # own jobs per pass: storms start fresh in each
        for phase, template in enumerate((running, stops[i % 2])):
            event = copy.deepcopy(template)
            detail = event["detail"]
            detail["taskArn"] = detail["taskArn"].rsplit("/", 1)[0] + "/" + task_id
            family_revision = detail["taskDefinitionArn"].rsplit("/", 1)[-1]
            detail["taskDefinitionArn"] = detail["taskDefinitionArn"].replace(
                family_revision, f"{family}:{family_revision.rsplit(':', 1)[-1]}"
            )
            for container in detail["containers"]:
                container["taskArn"] = detail["taskArn"]
            event["id"] = f"history-{tag}-{i}-{phase}"
            event["resources"] = [detail["taskArn"]]
            events.append(event)
    return events


def _is_history(operation: str, params: dict[str, Any]) -> bool:
    if operation == "PutItem":
        return str(params.get("Item", {}).get("pk", {}).get("S", "")).startswith("JOB#")
    if operation == "Query":
        values = params.get("ExpressionAttributeValues", {})
        return params.get("IndexName") == "gsi1" or str(values.get(":pk", {}).get("S", "")).startswith("JOB#")
    return False


def _pass(task_events: Any, events: list[dict[str, Any]], *, record: bool) -> Pass:
    from local.lambda_runtime import LambdaContext, sqs_batch

    task_events.dependencies.cache_clear()
    deps = task_events.dependencies()
    if not record:
        deps.task_runs._history = None  # the task-run coordinator records each run; without it, nothing is
    calls = Counter[str]()
    history = Counter[str]()

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.update([model.name])
        if _is_history(model.name, params):
            history.update(["write" if model.name == "PutItem" else "read"])

    # before-parameter-build sees the API parameters (before-call sees the serialised body).
    deps.clients.get("dynamodb").meta.events.register("before-parameter-build.dynamodb", count)
    failed = 0
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(0, len(events), BATCH_SIZE):
            response = task_events.lambda_handler(sqs_batch(*events[i : i + BATCH_SIZE]), LambdaContext())
            failed += len(response["batchItemFailures"])
    seconds = time.perf_counter() - started
    task_events.dependencies.cache_clear()
    return Pass(
        events=len(events),
        seconds=seconds,
        dynamodb_calls=dict(calls),
        history_writes=history["write"],
        history_reads=history["read"],
        failed_records=failed,
    )


def measure(runs: int = 200, jobs: int = 10) -> HistoryCost:
    from local.stack import offline_stack

    quiet_moto()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    with offline_stack(seed=False):
        from ecswatch.handlers import task_events

        without = _pass(task_events, run_events(runs, jobs, "a"), record=False)
        with_history = _pass(task_events, run_events(runs, jobs, "b"), record=True)
    successes = (runs + 1) // 2
    return HistoryCost(runs=runs, jobs=jobs, successes=successes, without=without, with_history=with_history)


def report(r: HistoryCost) -> str:
    def ops(p: Pass) -> str:
        return ", ".join(f"{n} {op}" for op, n in sorted(p.dynamodb_calls.items()))

    w, h = r.without, r.with_history
    return "\n".join(
        [
            f"Run history: {r.runs} runs of {r.jobs} jobs ({r.events} events: RUNNING + STOPPED, "
            f"{r.successes} successes) through lambda_handler over the offline stack, "
            f"{w.failed_records + h.failed_records} failed records",
            f"  without history  {w.calls_per_event:.2f} DynamoDB calls per event ({ops(w)})",
            f"  with history     {h.calls_per_event:.2f} DynamoDB calls per event ({ops(h)})",
            f"  extra            {r.extra_calls_per_event:.2f} calls per event: "
            f"{h.history_writes} history writes ({r.writes_per_event:.2f} per event), "
            f"{h.history_reads} history reads ({r.reads_per_successful_stop:.2f} per successful stop)",
            f"  {r.goal.line()}",
        ]
    )


if __name__ == "__main__":
    print(report(measure()))
