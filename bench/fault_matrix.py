"""The fault matrix: alerts lost, duplicated or leaking secrets when Slack, Datadog or DynamoDB fail.

Every scenario injects one fault (or a secret) into the offline stack and sends failed runs of
invoice-export through the real ``ecswatch.handlers.task_events.lambda_handler``, in three ways of
delivering them again (``MODES``):

``first``  the first delivery meets the fault; SQS brings back only the records the handler handed
           back (``batchItemFailures``), to the same container, until none come back.
``warm``   as ``first``, then the whole batch once more, to the same container: SQS delivers at least
           once, so a record that succeeded may come again (a duplicate, or the redelivery of an
           invocation that finished its work but timed out).
``cold``   as ``warm``, but every redelivery goes to a new container: no clients, caches or
           Powertools' local idempotency cache from the first delivery.

A redelivery comes after the queue's visibility timeout (360 s), so before each one the stored
leases and IN_PROGRESS records are aged by that much (:func:`local.faults.visibility_timeout_passed`)
instead of waiting. After the deliveries settle (no record handed back, or five rounds), each cell
counts, from what crossed the wire and what was stored:

* **lost**: failed runs named in no Slack message (top-level or thread, as the channel shows it now);
* **dup posts**: top-level messages that name only runs an earlier top-level message already named;
* **dup events**: Datadog events beyond the first that name the same run;
* **leaks**: (secret, place) pairs where one of the known secrets (the scenario's and the stack's
  Slack token and Datadog key) appears in a Slack request body, a Datadog request body, the
  function's captured logs (Powertools' JSON lines, EMF, stderr) or a state-table item;
* **unsettled**: records still handed back after the last round (each also a lost alert if unnamed).

Duplicates that README.md's "At-least-once delivery" paragraph documents (one more Datadog event
when Datadog stored the event but answered after the client's timeout; with a bot token, as here,
no Slack duplicate is documented) are reported as documented. Goal: 0 lost, 0 leaks, duplicates
only where documented.

Run alone with ``python -m bench.fault_matrix [--scenario NAME]``; ``scripts/bench.sh --only
fault_matrix`` runs it with the summary and results file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import os
import queue
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from bench.common import BenchError, Goal, quiet_moto, write_results

if TYPE_CHECKING:
    from local.stack import Stack

MODES = ("first", "warm", "cold")
#: Redelivery rounds before a record counts as unsettled (SQS would keep trying, then dead-letter).
MAX_ROUNDS = 5
#: Slack's and Datadog's client timeout (``SlackPoster``, ``DatadogSink``): a client that gave up sent
#: its request at least this long before its delivery ended.
CLIENT_TIMEOUT_SECONDS = 5.0
#: A slow answer: the fake stores the message or event, then answers this long after the request.
SLOW_SECONDS = 5.5
#: What every failed run of the matrix exits with: no retry by the faults' job config, so each run
#: has one failure alert and one Datadog event.
EXIT_CODE = 9
#: How long the parent waits for a worker's next scenario before it gives up.
WORKER_TIMEOUT_SECONDS = 300
#: Processes the whole matrix runs in by default (``--workers``).
WORKERS = 3
EVENTS_PATH = "/api/v1/events"
POST_METHOD = "chat.postMessage"

# Secrets the leak scenario plants; made of [A-Za-z0-9_] only, so JSON, form or URL encoding of a
# request body cannot hide one from the scan. Split so that no scanner flags this file.
GITHUB_TOKEN = "ghp_" + "Z7q2Lm9Xv4Rt8Kp1Wn6Ys3Hd0Bf5Cj2Ue7Ga"
AWS_SECRET_KEY = "wJalrXUtnFEMI" + "K7MDENGbPxRfiCYz9Qb4LkTeSt00"
STOPPED_PASSWORD = "Hunter2" + "SwordfishPlainText"
LOG_PASSWORD = "pg_" + "Pa55w0rdInTheLogTail_9f3"
LOG_BEARER = "eyJhbGciOiJIUzI1NiJ9" + "_sessionTokenInTheTail_77"
LEAK_SECRETS = (GITHUB_TOKEN, AWS_SECRET_KEY, STOPPED_PASSWORD, LOG_PASSWORD, LOG_BEARER)


@dataclass(frozen=True)
class Fault:
    """A fault armed on one fake endpoint before a step's delivery: ``where`` is "slack" (keyword
    arguments of ``FakeSlack.fault``), "datadog" (``FakeDatadog.fault``) or "dynamodb"
    (``DynamoDBFaults.fail``)."""

    where: str
    target: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One first delivery: the runs (by index) in one SQS batch, with the faults armed for it. The
    outage ends with the delivery (armed faults left unused are disarmed), unless ``lasting``."""

    runs: tuple[int, ...]
    faults: tuple[Fault, ...] = ()
    lasting: bool = False


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    steps: tuple[Step, ...]
    #: Duplicates README's "At-least-once delivery" paragraph documents: "posts" / "events" -> how
    #: many per cell (one per timeout injected).
    documented: Mapping[str, int] = field(default_factory=dict)
    #: Changes each run's EventBridge event (index, event) before it is sent.
    change: Callable[[int, dict[str, Any]], None] | None = None
    #: Runs before the first delivery with the cell's task ids (writes log streams, for example).
    prepare: Callable[[Sequence[str]], None] | None = None
    #: Secrets that must never leave the function, on top of the stack's own.
    secrets: tuple[str, ...] = ()

    @property
    def runs(self) -> int:
        return 1 + max(i for step in self.steps for i in step.runs)


@dataclass
class Cell:
    scenario: str
    mode: str
    runs: int
    lost: int = 0
    duplicate_posts: int = 0
    duplicate_events: int = 0
    leaks: int = 0
    unsettled: int = 0
    deliveries: int = 0
    seconds: float = 0.0
    documented_posts: int = 0
    documented_events: int = 0
    #: Where each leak was seen: "secret-prefix… in slack|datadog|logs|table".
    leaked: list[str] = field(default_factory=list)

    @property
    def undocumented_duplicates(self) -> int:
        return (self.duplicate_posts - self.documented_posts) + (
            self.duplicate_events - self.documented_events
        )


@dataclass(frozen=True)
class FaultMatrix:
    cells: tuple[Cell, ...]
    seconds: float

    def total(self, name: str) -> int:
        return sum(int(getattr(cell, name)) for cell in self.cells)

    @property
    def misses(self) -> int:
        return self.total("lost") + self.total("leaks") + self.total("undocumented_duplicates")

    @property
    def goal(self) -> Goal:
        return Goal(
            "0 lost, 0 leaks, duplicates only where documented (lost + leaks + undocumented duplicates)",
            self.misses,
            0,
            "",
            higher_is_better=False,
        )

    def to_json(self) -> dict[str, Any]:
        totals = {
            name: self.total(name)
            for name in (
                "lost",
                "duplicate_posts",
                "documented_posts",
                "duplicate_events",
                "documented_events",
                "leaks",
                "unsettled",
            )
        }
        return {
            "seconds": self.seconds,
            "cells": [asdict(c) for c in self.cells],
            "totals": totals,
            "goal": self.goal.line(),
        }


# --------------------------------------------------------------------------- the scenarios


#: The idempotency record's "done" write (Powertools sets status COMPLETED), refused with an error
#: botocore does not retry: a throttled write (ProvisionedThroughputExceededException) ends the same
#: way, after botocore's backoff on every try (about 20 s per effect here), which the bench skips.
DONE_WRITE_REFUSED = {"contains": '"COMPLETED"', "code": "AccessDeniedException", "times": 1000}
#: The write that records a posted message in its storm window (``set_storm_message``: the only
#: update with a ``:ts`` value), refused the same way.
POST_REF_WRITE_REFUSED = {"contains": '":ts"', "code": "AccessDeniedException", "times": 1000}


def _slack(**options: Any) -> Fault:
    return Fault("slack", POST_METHOD, options)


def _leaky_reasons(index: int, event: dict[str, Any]) -> None:
    """A container reason with registry credentials in a URL, a stoppedReason with a password and an
    AWS key pair: shapes issue 13 item 6 saw reach Slack, Datadog, the logs and history."""
    detail = event["detail"]
    for container in detail["containers"]:
        if container["name"] == "export":
            container["reason"] = (
                "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to "
                f"resolve ref https://robot:{GITHUB_TOKEN}@registry.example.com/invoice-export:a41c9e2"
            )
    detail["stoppedReason"] = (
        f"Task failed to start: connect db password={STOPPED_PASSWORD} "
        f"aws_access_key_id=AKIAIOSFODNN7EXAMPLE aws_secret_access_key={AWS_SECRET_KEY}"
    )


def _leaky_log_tail(task_ids: Sequence[str]) -> None:
    """The failed container's log stream, its last lines carrying a password and a bearer token."""
    logs = boto3.client("logs", region_name="eu-west-1")
    now = int(time.time() * 1000)
    lines = [
        "2025-03-04T05:41:15.100Z INFO invoice_export.db connecting with "
        f"DATABASE_URL=postgresql://export:{LOG_PASSWORD}@db.internal:5432/invoices",
        f"2025-03-04T05:41:15.200Z DEBUG http GET /v2/invoices Authorization: Bearer {LOG_BEARER}",
        "2025-03-04T05:41:16.885Z CRITICAL invoice_export.main exiting with status 9",
    ]
    for task_id in task_ids:
        stream = f"ecs/export/{task_id}"
        logs.create_log_stream(logGroupName="/ecs/invoice-export", logStreamName=stream)
        logs.put_log_events(
            logGroupName="/ecs/invoice-export",
            logStreamName=stream,
            logEvents=[{"timestamp": now - 10 + i, "message": line} for i, line in enumerate(lines)],
        )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "slack-500",
        "Slack answers 500 to every post until the item fails",
        (Step((0,), (_slack(status=500, times=1000),)),),
    ),
    Scenario(
        "slack-429",
        "Slack answers 429 with Retry-After: 1, twice",
        (Step((0,), (_slack(status=429, retry_after=1, times=2),)),),
    ),
    Scenario(
        "slack-slow",
        f"Slack stores the message, answers after {SLOW_SECONDS:.1f} s (client timeout 5 s)",
        # Not documented: with a bot token README.md promises one message per alert after a timeout.
        (Step((0,), (_slack(status=200, delay=SLOW_SECONDS, times=1),)),),
    ),
    Scenario(
        "slack-ok-false",
        "Slack answers ok:false internal_error once",
        (Step((0,), (_slack(error="internal_error", times=1),)),),
    ),
    Scenario(
        "datadog-500",
        "Datadog answers 500 to every event until the item fails",
        (Step((0,), (Fault("datadog", EVENTS_PATH, {"status": 500, "times": 1000}),)),),
    ),
    Scenario(
        "datadog-slow",
        f"Datadog accepts the event, answers after {SLOW_SECONDS:.1f} s (client timeout 5 s)",
        (Step((0,), (Fault("datadog", EVENTS_PATH, {"status": 202, "delay": SLOW_SECONDS, "times": 1}),)),),
        documented={"events": 1},
    ),
    Scenario(
        "done-write-fails",
        "DynamoDB refuses every idempotency 'done' write after the effects ran",
        (Step((0,), (Fault("dynamodb", "UpdateItem", DONE_WRITE_REFUSED),)),),
        # README.md: a duplicate delivered to another container after the IN_PROGRESS record expired
        # may send the Datadog event again (the container that ran it remembers; the table could not).
        documented={"events": 1},
    ),
    Scenario(
        "post-ref-write-fails",
        "DynamoDB refuses the write recording a posted message until the item fails",
        (Step((0,), (Fault("dynamodb", "UpdateItem", POST_REF_WRITE_REFUSED),)),),
    ),
    Scenario(
        "storm-claimant-fails",
        "A claims the storm's post, Slack 500 until A fails; B of the same job arrives after",
        (Step((0,), (_slack(status=500, times=1000),)), Step((1,))),
    ),
    Scenario(
        "secrets",
        "secrets in a container reason, the stoppedReason and the log tail",
        (Step((0,)),),
        change=_leaky_reasons,
        prepare=_leaky_log_tail,
        secrets=LEAK_SECRETS,
    ),
)


# --------------------------------------------------------------------------- one cell


@dataclass
class _Delivery:
    """Drives one cell: SQS's side (which records come back, to which container) and the fakes."""

    stack: Stack
    mode: str
    logs: io.StringIO = field(default_factory=io.StringIO)
    deliveries: int = 0

    def deliver(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from local.faults import deliver

        self.deliveries += 1
        with _captured_output(self.logs):
            failed = set(deliver({"Records": list(records)}))
        return [r for r in records if r["messageId"] in failed]

    def redeliver(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        from local.faults import visibility_timeout_passed

        visibility_timeout_passed()
        if self.mode == "cold":
            new_container()
        return self.deliver(records)


def run_cell(stack: Stack, scenario: Scenario, mode: str, *, cell_number: int) -> Cell:
    from local.aws import load_event
    from local.faults import failed_run

    reset(stack)
    started = time.perf_counter()
    task_ids = [f"fa{cell_number:06x}{i:024x}" for i in range(scenario.runs)]
    sample = load_event("stopped-nonzero-exit")
    events = []
    for i, task_id in enumerate(task_ids):
        event = failed_run(sample, task_id, exit_code=EXIT_CODE)
        if scenario.change is not None:
            scenario.change(i, event)
        events.append(event)
    if scenario.prepare is not None:
        scenario.prepare(task_ids)
    delivery = _Delivery(stack, mode)
    every: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    slow_until = 0.0
    for step in scenario.steps:
        for fault in step.faults:
            arm(stack, fault)
        records = [_record(events[i]) for i in step.runs]
        every += records
        pending += delivery.deliver(records)
        # A slow answer the client gave up on was asked for a timeout before now; it lands by then.
        delay = max((float(f.options.get("delay", 0.0)) for f in step.faults), default=0.0)
        slow_until = max(slow_until, time.monotonic() + delay - CLIENT_TIMEOUT_SECONDS + 0.5)
        if not step.lasting:
            disarm(stack)
    # A redelivery comes after the visibility timeout, long after any slow answer landed.
    time.sleep(max(0.0, slow_until - time.monotonic()))
    if mode in ("warm", "cold"):  # every record once more; those handed back come with them
        pending = delivery.redeliver(every)
    for _ in range(MAX_ROUNDS):
        if not pending:
            break
        pending = delivery.redeliver(pending)
    cell = count(stack, scenario, mode, task_ids, delivery.logs.getvalue())
    cell.unsettled = len(pending)
    cell.deliveries = delivery.deliveries
    cell.seconds = time.perf_counter() - started
    return cell


def _record(event: dict[str, Any]) -> dict[str, Any]:
    from local.lambda_runtime import sqs_record

    record: dict[str, Any] = sqs_record(json.dumps(event, separators=(",", ":")))
    return record


def count(stack: Stack, scenario: Scenario, mode: str, task_ids: Sequence[str], logs: str) -> Cell:
    """What the channel, Datadog, the logs and the table show after the deliveries settled."""
    from local.fake_datadog import decoded_body
    from local.fake_slack import received, render
    from local.faults import state_items
    from local.stack import DATADOG_KEY, SLACK_TOKEN

    cell = Cell(scenario.name, mode, len(task_ids))
    shown = [render(m) for m in stack.slack.messages()]
    cell.lost = sum(1 for t in task_ids if not any(t in text for text in shown))
    already: set[str] = set()
    for message in stack.slack.messages():
        if message.thread_ts is not None:
            continue
        names = {t for t in task_ids if t in render(message)}
        if names and names <= already:
            cell.duplicate_posts += 1
        already |= names
    events = [json.dumps(body) for body in stack.datadog.events()]
    cell.duplicate_events = sum(max(0, sum(t in e for e in events) - 1) for t in task_ids)
    cell.documented_posts = min(cell.duplicate_posts, scenario.documented.get("posts", 0))
    cell.documented_events = min(cell.duplicate_events, scenario.documented.get("events", 0))
    slack_bodies = [str(r["body"]) for r in received(stack.slack)]
    with stack.datadog.server._lock:
        datadog_requests = list(stack.datadog.server.requests)
    places = {
        "slack": "\n".join(slack_bodies),
        "datadog": "\n".join(decoded_body(r).decode("utf-8", "replace") for r in datadog_requests),
        "logs": logs,
        "table": "\n".join(json.dumps(item) for item in state_items()),
    }
    for secret in (*scenario.secrets, SLACK_TOKEN, DATADOG_KEY):
        for place, text in places.items():
            if secret in text:
                cell.leaks += 1
                cell.leaked.append(f"{secret[:6]}… in {place}")
    return cell


# --------------------------------------------------------------------------- the stack's switches


def arm(stack: Stack, fault: Fault) -> None:
    if fault.where == "slack":
        stack.slack.fault(fault.target, **fault.options)
    elif fault.where == "datadog":
        stack.datadog.fault(fault.target, **fault.options)
    elif fault.where == "dynamodb":
        stack.dynamodb.fail(fault.target, **fault.options)
    else:
        raise BenchError(f"unknown fault target {fault.where!r}")


def disarm(stack: Stack) -> None:
    """The outage is over: faults not used up answer no more (what was received is kept)."""
    with stack.slack._lock:
        stack.slack.faults.clear()
    with stack.datadog.server._lock:
        stack.datadog.server.faults.clear()
    stack.dynamodb.clear()


def reset(stack: Stack) -> None:
    """Each cell starts from empty fakes and state table, no faults, and a new container."""
    from local.faults import empty_state_table

    stack.slack.clear()
    stack.datadog.server.clear()
    stack.dynamodb.clear()
    empty_state_table()
    new_container()


def new_container() -> None:
    """A cold container: dependencies (clients, caches, the Powertools idempotency local cache) and
    Powertools' parameter cache (the Slack token, the Datadog key) are built anew on first use."""
    from aws_lambda_powertools.utilities import parameters

    from ecswatch.handlers import task_events

    task_events.dependencies.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _captured_output(sink: io.StringIO) -> Iterator[None]:
    """The function's logs as CloudWatch would get them: Powertools' handlers (which hold the
    stdout they were made with) write to ``sink``, and so do print (EMF metrics) and stderr. The
    level is the deployed one (template.yaml: INFO)."""
    from ecswatch.handlers import task_events

    service = logging.getLogger(task_events.logger.service)
    streams = [(h, h.stream) for h in service.handlers if isinstance(h, logging.StreamHandler)]
    level = service.level
    service.setLevel(logging.INFO)
    for handler, _ in streams:
        handler.setStream(sink)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for handler, stream in streams:
            handler.setStream(stream)
        service.setLevel(level)


@contextlib.contextmanager
def matrix_stack() -> Iterator[Stack]:
    """The offline stack as the fault suite runs it (serialized DynamoDB, the suite's jobs, a retry
    queue), in this process, with the settings a developer's shell could carry cleared."""
    from aws_lambda_powertools.utilities import parameters

    from local.faults import JOBS, STRAY_SETTINGS
    from local.stack import offline_stack

    quiet_moto()
    names = (*STRAY_SETTINGS, "JOBS_CONFIG_PATH")
    saved = {name: os.environ.get(name) for name in names}
    with tempfile.TemporaryDirectory(prefix="fault-matrix-") as tmp:
        jobs = Path(tmp) / "jobs.yaml"
        jobs.write_text(JOBS)
        for name in STRAY_SETTINGS:
            os.environ.pop(name, None)
        os.environ["JOBS_CONFIG_PATH"] = str(jobs)
        try:
            parameters.clear_caches()  # type: ignore[no-untyped-call]
            with offline_stack(retries=True, serialized=True) as stack:
                from ecswatch.handlers import task_events

                # The handler module made its Metrics at import, maybe before the stack's environment.
                metrics = task_events.metrics
                kept = (metrics.namespace, metrics.service)
                metrics.namespace, metrics.service = "ecswatch", "ecswatch"
                try:
                    yield stack
                finally:
                    metrics.namespace, metrics.service = kept
                    new_container()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def measure(
    scenarios: Sequence[Scenario] = SCENARIOS,
    modes: Sequence[str] = MODES,
    *,
    workers: int = 1,
    stack: Stack | None = None,
) -> FaultMatrix:
    """Every scenario in every mode. Cells run one after the other over one stack (``stack``: the
    caller's, made by :func:`matrix_stack`; else one started here), or, with ``workers`` > 1, in
    that many processes, each with a stack of its own taking the next scenario: a cell spends most
    of its time waiting out Retry-After, backoffs and slow answers, not on a core."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise BenchError(f"unknown delivery modes {sorted(unknown)}; known: {MODES}")
    began = time.perf_counter()
    numbered = list(enumerate(scenarios))
    if workers > 1 and len(numbered) > 1 and stack is None:
        cells = _in_processes(numbered, modes, min(workers, len(numbered)))
    else:
        with contextlib.nullcontext(stack) if stack is not None else matrix_stack() as used:
            cells = [cell for n, scenario in numbered for cell in _scenario_cells(used, n, scenario, modes)]
    order = {scenario.name: n for n, scenario in numbered}
    cells.sort(key=lambda c: (order[c.scenario], MODES.index(c.mode)))
    return FaultMatrix(tuple(cells), time.perf_counter() - began)


def _scenario_cells(stack: Stack, number: int, scenario: Scenario, modes: Sequence[str]) -> list[Cell]:
    return [
        run_cell(stack, scenario, mode, cell_number=number * len(MODES) + MODES.index(mode)) for mode in modes
    ]


def _in_processes(numbered: list[tuple[int, Scenario]], modes: Sequence[str], workers: int) -> list[Cell]:
    context = multiprocessing.get_context("spawn")
    todo = context.Queue()
    for item in numbered:
        todo.put(item)
    done = context.Queue()
    processes = [
        context.Process(target=_worker, args=(todo, done, tuple(modes)), daemon=True) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    cells: list[Cell] = []
    try:
        for _ in numbered:
            answer = done.get(timeout=WORKER_TIMEOUT_SECONDS)
            if isinstance(answer, str):
                raise BenchError(f"a fault-matrix worker failed: {answer}")
            cells += [Cell(**fields) for fields in answer]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return cells


def _worker(todo: Any, done: Any, modes: tuple[str, ...]) -> None:
    """A process of its own with a stack of its own: scenarios from ``todo`` until none are left,
    each scenario's cells (as dicts) or the error (as text) to ``done``."""
    try:
        with matrix_stack() as stack:
            while True:
                try:
                    number, scenario = todo.get(timeout=1)
                except queue.Empty:
                    return
                try:
                    done.put([asdict(c) for c in _scenario_cells(stack, number, scenario, modes)])
                except Exception as e:
                    done.put(f"{scenario.name}: {e!r}")
    except Exception as e:
        done.put(f"stack: {e!r}")


# --------------------------------------------------------------------------- the report


def _duplicates(found: int, documented: int) -> str:
    if not found:
        return "0"
    return f"{found} (documented)" if found == documented else f"{found} ({documented} documented)"


def report(result: FaultMatrix) -> str:
    header = ["scenario", "delivery", "runs", "lost", "dup posts", "dup events", "leaks", "unsettled", "s"]
    rows = [
        [
            c.scenario,
            c.mode,
            str(c.runs),
            str(c.lost),
            _duplicates(c.duplicate_posts, c.documented_posts),
            _duplicates(c.duplicate_events, c.documented_events),
            str(c.leaks),
            str(c.unsettled),
            f"{c.seconds:.1f}",
        ]
        for c in result.cells
    ]
    rows.append(
        [
            "total",
            "",
            str(result.total("runs")),
            str(result.total("lost")),
            _duplicates(result.total("duplicate_posts"), result.total("documented_posts")),
            _duplicates(result.total("duplicate_events"), result.total("documented_events")),
            str(result.total("leaks")),
            str(result.total("unsettled")),
            f"{result.seconds:.1f}",
        ]
    )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(-1, "-" * len(lines[0]))
    scenarios = {c.scenario for c in result.cells}
    what = [f"  {s.name}: {s.what}" for s in SCENARIOS if s.name in scenarios]
    leaked = [f"  leak: {c.scenario}/{c.mode}: {where}" for c in result.cells for where in c.leaked]
    title = (
        f"Fault matrix: {len(scenarios)} scenarios x {len({c.mode for c in result.cells})} deliveries "
        f"(first | warm redelivery | cold redelivery) through lambda_handler over the offline stack, "
        f"{result.seconds:.0f} s"
    )
    return "\n".join([title, *what, "", *(line.rstrip() for line in lines), *leaked, "", result.goal.line()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [s.name for s in SCENARIOS]
    parser.add_argument("--scenario", choices=names, action="append", help="only this one (repeatable)")
    parser.add_argument("--mode", choices=MODES, action="append", help="only this delivery (repeatable)")
    parser.add_argument("--workers", type=int, default=WORKERS, help=f"processes (default {WORKERS})")
    args = parser.parse_args(argv)
    chosen = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    result = measure(chosen, args.mode or MODES, workers=args.workers)
    print(report(result))
    print(f"\nresults: {write_results({'fault_matrix': result.to_json()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
