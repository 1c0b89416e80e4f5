"""The in-test fakes of the pipeline's ports, and the one way tests turn a raw event into a run report.

Tests of what is built from a report (alerts, Slack blocks, Datadog events, retry decisions, text) need a
real ``RunReport``, so they run the real ``process_task_event`` with these fakes instead of AWS. The fakes
remember what they were asked, so a test can also say that a lookup did, or did not, happen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

# The in-memory run history lives next to the DynamoDB one (it also serves `sam local invoke`).
from ecswatch.adapters.dynamodb.history import MemoryRunHistory  # noqa: F401 (re-exported for tests)
from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.model import JobsConfig
from ecswatch.config.settings import Settings
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.ports import (
    LogReader,
)
from ecswatch.run import Alert, LaunchResult, LogTail, MessageRef, RetryRequest, RunReport

#: (region, log group, log stream, lines), as the pipeline asked a log reader for a tail.
TailCall = tuple[str, str, str, int]


class FixedTaskDefinitions:
    """Answers like ``EcsTaskDefinitions``: the one definition it holds when that is the ARN asked for, else
    None (deleted, or never registered); so a pipeline asking for the wrong ARN is caught."""

    def __init__(self, definition: TaskDefinition | None = None) -> None:
        self.definition = definition
        self.asked: list[str] = []

    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        self.asked.append(task_definition_arn)
        if self.definition is None or self.definition.arn != task_definition_arn:
            return None
        return self.definition


class FixedLogs:
    """Answers every tail with the newest of the same lines, already redacted as the real reader's would be,
    or with ``note`` (the reader's reason for having no lines)."""

    def __init__(self, lines: tuple[str, ...] = (), note: str | None = None) -> None:
        self.lines = lines
        self.note = note
        self.calls: list[TailCall] = []

    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        self.calls.append((region, group, stream, lines))
        return LogTail(lines=self.lines[-lines:] if lines > 0 else (), note=self.note)


class NoLogsExpected:
    """A log reader for reports that must never need one: any call fails the test, saying why."""

    def __init__(self, why: str = "this test never needs logs") -> None:
        self.why = why

    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        raise AssertionError(self.why)


def report_from(
    raw: Mapping[str, Any],
    *,
    task_definition: TaskDefinition | None = None,
    logs: LogReader | None = None,
    settings: Settings | None = None,
    jobs: JobsConfig | None = None,
) -> RunReport:
    """The report the pipeline makes of ``raw``; a skip fails the test, since the test needed a report."""
    result = process_task_event(
        raw,
        settings=Settings() if settings is None else settings,
        task_definitions=FixedTaskDefinitions(task_definition),
        logs=FixedLogs() if logs is None else logs,
        jobs=jobs,
    )
    assert isinstance(result, RunReport), result
    return result


class SampleReport(Protocol):
    """The ``sample_report`` fixture: a sample event's report, with its seeded task definition."""

    def __call__(
        self,
        name: str,
        *,
        change: Callable[[dict[str, Any]], None] | None = None,
        logs: LogReader | None = None,
        settings: Settings | None = None,
    ) -> RunReport: ...


# --------------------------------------------------------------------------- run history

TEMPLATE_FILE = Path(__file__).resolve().parents[1] / "template.yaml"


@cache
def _state_table_spec() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    template, problems = decode_str(TEMPLATE_FILE.read_text(encoding="utf-8"))
    assert not problems, [str(p) for p in problems]
    spec: dict[str, Any] = json.loads(json.dumps(template["Resources"]["StateTable"]["Properties"]))
    return spec


def create_state_table_from_template(client: Any, name: str) -> None:
    """The state table exactly as template.yaml declares it (keys, indexes, TTL), read from the template,
    so a test of the history's keys fails when the template and the code part ways."""
    spec = _state_table_spec()
    client.create_table(
        TableName=name,
        BillingMode=spec["BillingMode"],
        AttributeDefinitions=spec["AttributeDefinitions"],
        KeySchema=spec["KeySchema"],
        GlobalSecondaryIndexes=spec.get("GlobalSecondaryIndexes", []),
    )
    ttl = spec["TimeToLiveSpecification"]
    client.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]},
    )


# --------------------------------------------------------------------------- the coordinator's outside world


class RecordingChat:
    """Slack: every post (with its thread) and update, in order; a message's ts counts the posts.
    ``find`` answers from the keys posts carried in their metadata, as conversations.history would."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Alert, MessageRef | None]] = []
        self.updates: list[tuple[MessageRef, Alert]] = []
        self.keys: dict[str, MessageRef] = {}

    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        self.posts.append((channel, alert, thread))
        ref = MessageRef(channel=channel, ts=f"1.{len(self.posts)}")
        if key is not None:
            self.keys[key] = ref
        return ref

    def update(self, ref: MessageRef, alert: Alert) -> None:
        self.updates.append((ref, alert))

    def find(
        self, channel: str, key: str, *, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        return self.keys.get(key)

    def alerts(self, job: str) -> list[Alert]:
        return [alert for _, alert, thread in self.posts if thread is None and alert.job == job]

    def replies(self) -> list[str]:
        return [alert.title for _, alert, thread in self.posts if thread is not None]


class MemoryThreads:
    """Just the thread part of the notification state (no storms: run the notifier with window 0)."""

    def __init__(self) -> None:
        self.threads: dict[str, MessageRef] = {}
        self.intents: dict[str, datetime] = {}

    def thread_for(self, run_key: str) -> MessageRef | None:
        return self.threads.get(run_key)

    def save_thread(self, run_key: str, ref: MessageRef) -> None:
        self.threads[run_key] = ref

    def intend_post(self, key: str, channel: str, now: datetime, *, within: int) -> datetime | None:
        earlier = self.intents.get(key)
        if earlier is not None and (now - earlier).total_seconds() < within:
            return earlier
        self.intents[key] = now
        return None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"storms are off in these tests: {name}")


class RecordingQueue:
    """The retry queue: each request with its delay."""

    def __init__(self) -> None:
        self.requests: list[tuple[RetryRequest, int]] = []

    def schedule(self, request: RetryRequest, delay_seconds: int) -> str:
        self.requests.append((request, delay_seconds))
        return f"msg-{len(self.requests)}"

    def jobs(self) -> list[str]:
        return [request.job for request, _ in self.requests]


class RecordingRunner:
    """RunTask: a new task per call (ARN from ``task_arn(request, n)``), or the next scripted answer."""

    def __init__(self, task_arn: Callable[[RetryRequest, int], str]) -> None:
        self.runs: list[RetryRequest] = []
        self.answers: list[LaunchResult | Exception] = []
        self._task_arn = task_arn

    def run(self, request: RetryRequest) -> LaunchResult:
        self.runs.append(request)
        answer = (
            self.answers.pop(0) if self.answers else LaunchResult(self._task_arn(request, len(self.runs)))
        )
        if isinstance(answer, Exception):
            raise answer
        return answer
