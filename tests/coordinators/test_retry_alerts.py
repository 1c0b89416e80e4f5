"""An alert promises a retry only when one follows; otherwise it says why not, in the alert itself,
and the Slack alert, the Datadog event and the history record say the same (issue 14, "Alerts that
do not promise what will not happen").

The coordinators run as the factory wires them (tests.test_retries.World), with the demo's jobs:
invoice-export (3 attempts, retry exit 2, `on_outcome: failed` EXIT at evaluate_on_exit[3]) and
data-sync (2 attempts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecswatch.adapters.dynamodb.history import MemoryRunHistory, from_item, to_item
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard
from ecswatch.adapters.dynamodb.state import MemoryLineage
from ecswatch.cli.views import record_json
from ecswatch.config.routing import Routing
from ecswatch.coordinators.chain_starts import ChainStarter
from ecswatch.coordinators.failed_launches import FailedLaunchCoordinator
from ecswatch.coordinators.task_runs import TaskRunCoordinator
from ecswatch.history.records import HistoryRecorder
from ecswatch.notifications.notifier import Notifier
from ecswatch.run import DatadogEvent, Lineage, MetricPoint, RunRecord, RunReport
from tests.analysis.test_failed_launches import CAPACITY, DENIED, failed
from tests.fakes import MemoryThreads, RecordingChat, RecordingQueue
from tests.retries.test_retries import ARN_PREFIX, JOBS, report_maker

LoadEvent = Callable[[str], dict[str, Any]]


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[DatadogEvent] = []

    def send_event(self, event: DatadogEvent) -> None:
        self.events.append(event)

    def add_points(self, points: list[MetricPoint]) -> None:
        pass

    def flush(self) -> int:
        return 0


class MemoryHistory(MemoryRunHistory):
    """The in-memory history, and every record it was handed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[RunRecord] = []

    def record(self, run: RunRecord) -> None:
        super().record(run)
        self.records.append(run)


class Wired:
    """Slack, Datadog and the history behind both coordinators, all recording."""

    def __init__(self) -> None:
        self.chat, self.queue, self.events, self.store = (
            RecordingChat(),
            RecordingQueue(),
            RecordingEvents(),
            MemoryHistory(),
        )
        self.lineage = MemoryLineage()
        guard = MemoryOnceGuard()
        notifier = Notifier(
            guard=guard,
            routing=lambda job: Routing(channel=f"#{job}"),
            chat=self.chat,
            events=self.events,
            state=MemoryThreads(),  # type: ignore[arg-type]
            storm_window_seconds=0,
        )
        history = HistoryRecorder(history=self.store, jobs=JOBS, guard=guard)
        chains = ChainStarter(notifier=notifier, guard=guard, jobs=JOBS, scheduler=self.queue)
        self.runs = TaskRunCoordinator(
            notifier=notifier,
            guard=guard,
            lineage=self.lineage,
            jobs=JOBS,
            chains=chains,
            scheduler=self.queue,
            history=history,
        )
        self.launches = FailedLaunchCoordinator(
            notifier=notifier, guard=guard, jobs=JOBS, chains=chains, scheduler=self.queue, history=history
        )

    def said(self) -> tuple[str, str, str, str | None]:
        """The Slack title and Retry field, the Datadog title, and the history's retry line."""
        [(_, alert, _), *_replies] = self.chat.posts
        [event] = self.events.events
        [record] = self.store.records
        return alert.title, dict(alert.fields).get("Retry", ""), event.title, record.retry


def make(load_event: LoadEvent) -> Callable[..., RunReport]:
    return report_maker(load_event)


# ------------------------------------------------------------------ failed launches


def test_a_refused_launch_of_a_retried_job_does_not_say_attempt_1_of_2_but_why_no_retry(
    load_event: LoadEvent,
) -> None:
    """Before: "data-sync failed to launch (attempt 1/2)" next to "Retryable: no"."""
    wired = Wired()

    wired.launches.handle(failed(load_event(DENIED)))

    title, retry, event_title, record = wired.said()
    assert title == "data-sync failed to launch (no retry: AccessDeniedException is not retryable)"
    assert "attempt 1/2" not in title
    assert retry == "no retry: AccessDeniedException is not retryable"
    assert event_title == title
    assert record == retry
    assert wired.queue.requests == []


def test_a_launch_failure_that_is_retried_says_attempt_1_of_3_and_when_the_retry_follows(
    load_event: LoadEvent,
) -> None:
    wired = Wired()
    raw = load_event(CAPACITY)
    request = raw["detail"]["requestParameters"]
    request["taskDefinition"] = request["taskDefinition"].replace("nightly-report", "invoice-export")
    request["startedBy"] = "events-rule/invoice-export-0530"

    wired.launches.handle(failed(raw))

    title, retry, event_title, record = wired.said()
    assert title == "invoice-export failed to launch (attempt 1/3)"
    assert retry.startswith("retry 2/3 follows in ")
    assert event_title == title
    assert record == retry
    assert len(wired.queue.requests) == 1


def test_a_launch_failure_of_a_job_without_retries_promises_nothing_in_its_title(
    load_event: LoadEvent,
) -> None:
    wired = Wired()

    wired.launches.handle(failed(load_event(CAPACITY)))  # nightly-report: attempts 1

    title, retry, _, _ = wired.said()
    assert title == "nightly-report failed to launch"
    assert retry == "no retry: no retries configured"


# ------------------------------------------------------------------ stopped tasks


def test_an_exit_a_rule_ends_says_which_rule_in_the_title_the_event_and_the_history(
    load_event: LoadEvent,
) -> None:
    wired = Wired()
    report = make(load_event)("stopped-nonzero-exit", task_id="9" * 32, exit_code=9)

    wired.runs.handle(report)

    title, retry, event_title, record = wired.said()
    assert title == "invoice-export failed (no retry: exit 9 matched evaluate_on_exit[3] EXIT)"
    assert retry == "no retry: exit 9 matched evaluate_on_exit[3] EXIT"
    assert event_title == title
    assert record == retry


def test_a_retried_exit_says_attempt_1_of_3_and_that_a_retry_follows(load_event: LoadEvent) -> None:
    wired = Wired()

    wired.runs.handle(make(load_event)("stopped-nonzero-exit", task_id="2" * 32, exit_code=2))

    [(_, alert, _), *_replies] = wired.chat.posts
    [event] = wired.events.events
    assert alert.title == "invoice-export failed (attempt 1/3)"
    assert dict(alert.fields)["Retry"].startswith("retry 2/3 follows in ")
    assert event.title == alert.title


def test_the_last_attempt_says_the_attempts_are_used(load_event: LoadEvent) -> None:
    wired = Wired()
    report = make(load_event)(
        "stopped-nonzero-exit", task_id="3" * 32, exit_code=2, startedBy="ecswatch-retry/3"
    )
    root = ARN_PREFIX + "1" * 32
    wired.lineage.record_lineage(
        report.event.task.arn, Lineage(root_task_arn=root, attempt=3, of=3, job="invoice-export")
    )

    wired.runs.handle(report)

    # A later attempt is news in the first alert's thread; its Datadog event and record stand alone.
    [event] = wired.events.events
    [record] = wired.store.records
    assert event.title == "invoice-export failed (attempt 3/3, no retry: attempts used)"
    assert record.retry == "no retry: attempts used"
    assert wired.queue.requests == []


def test_the_retry_line_survives_the_history_table(load_event: LoadEvent) -> None:
    wired = Wired()
    wired.runs.handle(make(load_event)("stopped-nonzero-exit", task_id="4" * 32, exit_code=9))
    [record] = wired.store.records

    assert from_item(to_item(record, expires_at=0)).retry == record.retry


def test_the_cli_json_of_a_run_says_what_followed_it(load_event: LoadEvent) -> None:
    wired = Wired()
    wired.launches.handle(failed(load_event(DENIED)))
    [record] = wired.store.records

    assert record_json(record)["retry"] == "no retry: AccessDeniedException is not retryable"
