"""Notifications happen once per run, group into storms, and thread follow-ups — under at-least-once delivery.

The notifier runs against the real DynamoDB state adapter on moto (conditional
writes are the point) and small recording fakes for Slack and Datadog.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from msgspec.structs import replace

from ecswatch.adapters.dynamodb import state as state_module
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard, PowertoolsOnceGuard
from ecswatch.adapters.dynamodb.state import DynamoNotificationState
from ecswatch.config.routing import Routing
from ecswatch.errors import TransientError
from ecswatch.notifications import notifier as notifier_module
from ecswatch.notifications.notifier import Notifier, is_update_milestone
from ecswatch.run import (
    Alert,
    Attempt,
    DatadogEvent,
    Lineage,
    MessageRef,
    MetricPoint,
    RunReport,
    StormMember,
)
from tests.fakes import FixedLogs, report_from

pytestmark = pytest.mark.offline

TABLE = "ecswatch-state"
T0 = datetime(2026, 3, 4, 5, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------ fakes


class RecordingChat:
    """Slack as the notifier sees it. ``fail_next``: posts refused (nothing stored); ``time_out_next``:
    posts Slack stores but answers after the client's timeout (the client raises all the same);
    ``find`` answers from the messages' metadata keys, as conversations.history would."""

    def __init__(self, *, webhook: bool = False) -> None:
        self.posts: list[tuple[str, Alert, MessageRef | None]] = []
        self.updates: list[tuple[MessageRef, Alert]] = []
        self.fail_next = 0
        self.time_out_next = 0
        self.lookups_fail = False
        self.lookups: list[tuple[str, datetime, MessageRef | None]] = []
        self.keys: dict[str, MessageRef] = {}
        self._webhook = webhook

    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("slack is down")
        self.posts.append((channel, alert, thread))
        ref = None if self._webhook else MessageRef(channel="C123", ts=f"1700000000.{len(self.posts):06d}")
        if ref is not None and key is not None:
            self.keys[key] = ref
        if self.time_out_next:
            self.time_out_next -= 1
            raise TransientError("Slack chat.postMessage to C123: TimeoutError (no answer)")
        return ref

    def find(
        self, channel: str, key: str, *, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        self.lookups.append((key, since, thread))
        if self.lookups_fail:
            raise TransientError("Slack conversations.history: internal_error")
        return None if self._webhook else self.keys.get(key)

    def update(self, ref: MessageRef, alert: Alert) -> None:
        self.updates.append((ref, alert))


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[DatadogEvent] = []
        self.points: list[MetricPoint] = []

    def send_event(self, event: DatadogEvent) -> None:
        self.events.append(event)

    def add_points(self, points: list[MetricPoint]) -> None:
        self.points.extend(points)

    def flush(self) -> int:
        sent, self.points = len(self.points), []
        return sent


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def state(dynamodb: Any) -> DynamoNotificationState:
    return DynamoNotificationState(dynamodb, TABLE)


@pytest.fixture
def report_of(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., RunReport]:
    def make(
        name: str, *, task_id: str | None = None, family: str | None = None, later: timedelta | None = None
    ) -> RunReport:
        """``later``: the run stopped that much later than the sample (its own stop time)."""
        raw = copy.deepcopy(load_event(name))
        detail = raw["detail"]
        if later is not None:
            for key in ("stoppingAt", "stoppedAt", "executionStoppedAt", "updatedAt"):
                if key in detail:
                    at = datetime.fromisoformat(detail[key].replace("Z", "+00:00")) + later
                    detail[key] = at.isoformat().replace("+00:00", "Z")
        if task_id:
            prefix = detail["taskArn"].rsplit("/", 1)[0]
            detail["taskArn"] = f"{prefix}/{task_id}"
        if family:
            detail["taskDefinitionArn"] = detail["taskDefinitionArn"].replace(
                detail["taskDefinitionArn"].split("/")[-1].split(":")[0], family
            )
        return report_from(raw, logs=FixedLogs(note="no logs in this test"))

    return make


def notifier(
    *,
    chat: RecordingChat | None = None,
    events: RecordingEvents | None = None,
    state: DynamoNotificationState | None = None,
    guard: Any = None,
    clock: Clock | None = None,
    notify_success: bool = False,
    window: int = 300,
) -> Notifier:
    clock = clock or Clock()
    return Notifier(
        guard=guard or MemoryOnceGuard(),
        routing=lambda job: Routing(channel=f"#{job}", notify_success=notify_success),
        chat=chat,
        events=events,
        state=state,
        storm_window_seconds=window,
        clock=clock,
        sleep=clock.sleep,
    )


def member(run_key: str, cause: str = "exit 2", stopped: datetime = T0) -> StormMember:
    return StormMember(run_key=run_key, label=run_key.rsplit("/", 1)[-1], stopped=stopped, cause=cause)


def member_of(report: RunReport) -> StormMember:
    stopped = report.event.timeline.stopped
    assert stopped is not None
    return member(report.event.task.arn, report.cause, stopped)


def failing_runs(
    report_of: Callable[..., RunReport], count: int, family: str | None = None
) -> list[RunReport]:
    return [
        report_of("stopped-nonzero-exit", task_id=f"{i:032x}", family=family) for i in range(1, count + 1)
    ]


# ------------------------------------------------------------------ one run, once


def test_a_failed_run_posts_one_alert_to_the_jobs_channel(report_of: Callable[..., RunReport]) -> None:
    chat = RecordingChat()

    notifier(chat=chat).publish(report_of("stopped-nonzero-exit"))

    [(channel, alert, thread)] = chat.posts
    assert channel == "#invoice-export"
    assert alert.title == "invoice-export failed"
    assert "exited 2" in alert.cause
    assert thread is None


def test_a_redelivered_report_is_not_notified_again(report_of: Callable[..., RunReport]) -> None:
    chat, events = RecordingChat(), RecordingEvents()
    n = notifier(chat=chat, events=events)
    report = report_of("stopped-nonzero-exit")

    n.publish(report)
    n.publish(report)

    assert len(chat.posts) == 1
    assert len(events.events) == 1
    assert sum(p.value for p in events.points if p.name == "ecswatch.run.count") == 1


def test_a_success_goes_to_datadog_but_not_slack_unless_the_job_asks(
    report_of: Callable[..., RunReport],
) -> None:
    chat, events = RecordingChat(), RecordingEvents()

    notifier(chat=chat, events=events).publish(report_of("stopped-success"))

    assert chat.posts == []
    assert [e.alert_type for e in events.events] == ["success"]


def test_a_success_reaches_slack_when_the_job_asks_for_it(report_of: Callable[..., RunReport]) -> None:
    chat = RecordingChat()

    notifier(chat=chat, notify_success=True).publish(report_of("stopped-success"))

    assert [alert.severity for _, alert, _ in chat.posts] == ["success"]


def test_a_started_run_sends_metrics_but_no_event_and_no_alert(report_of: Callable[..., RunReport]) -> None:
    chat, events = RecordingChat(), RecordingEvents()

    notifier(chat=chat, events=events, notify_success=True).publish(report_of("running-fargate"))

    assert chat.posts == []
    assert events.events == []
    assert {p.name for p in events.points} == {"ecswatch.run.start_latency", "ecswatch.run.image_pull"}


def _latencies(events: RecordingEvents) -> list[float]:
    return [p.value for p in events.points if p.name == "ecswatch.run.start_latency"]


def test_a_run_whose_running_event_was_missed_sends_its_start_latency_from_the_stop(
    report_of: Callable[..., RunReport],
) -> None:
    """Issue 14: only RUNNING events used to carry start latency, so a run whose RUNNING event was
    filtered or lost had none. The STOPPED event carries startedAt too."""
    events = RecordingEvents()
    stopped = report_of("stopped-nonzero-exit")
    assert stopped.durations.start_latency is not None

    notifier(events=events).publish(stopped)

    assert _latencies(events) == [stopped.durations.start_latency]


def test_start_latency_is_sent_once_per_run_whichever_event_carries_it_first(
    report_of: Callable[..., RunReport],
) -> None:
    events = RecordingEvents()
    n = notifier(events=events)
    running = report_of("running-fargate")
    task_id = running.event.task.task_id
    stopped = report_of("stopped-success", task_id=task_id)

    n.publish(running)
    n.publish(stopped)
    n.publish(stopped)  # a duplicate delivery

    assert _latencies(events) == [running.durations.start_latency]
    assert [p.name for p in events.points].count("ecswatch.run.count") == 1


def test_a_slack_outage_fails_the_item_and_the_redelivery_posts_without_resending_datadog(
    report_of: Callable[..., RunReport],
) -> None:
    chat, events = RecordingChat(), RecordingEvents()
    n = notifier(chat=chat, events=events)
    report = report_of("stopped-nonzero-exit")
    chat.fail_next = 1

    with pytest.raises(TransientError):
        n.publish(report)
    n.publish(report)  # SQS redelivers

    assert len(chat.posts) == 1
    assert len(events.events) == 1


def test_idempotency_survives_a_new_container_through_the_state_table(
    dynamodb: Any, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    report = report_of("stopped-nonzero-exit")

    notifier(chat=chat, guard=PowertoolsOnceGuard(TABLE, dynamodb)).publish(report)
    notifier(chat=chat, guard=PowertoolsOnceGuard(TABLE, dynamodb)).publish(report)  # a cold container

    assert len(chat.posts) == 1


# ------------------------------------------------------------------ storms


def test_failures_of_one_job_in_a_window_share_one_message_updated_with_the_count(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat, clock = RecordingChat(), Clock()
    n = notifier(chat=chat, state=state, clock=clock)

    for run in failing_runs(report_of, 3):
        clock.now += timedelta(seconds=20)
        n.publish(run)

    assert len(chat.posts) == 1
    assert [alert.title.split(":")[0] for _, alert in chat.updates] == ["invoice-export failing"] * 2
    assert "3 failed runs" in chat.updates[-1][1].title
    assert {ref.ts for ref, _ in chat.updates} == {"1700000000.000001"}


def test_failures_of_different_jobs_get_their_own_messages(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)

    n.publish(report_of("stopped-nonzero-exit", task_id="a" * 32, family="invoice-export"))
    n.publish(report_of("stopped-nonzero-exit", task_id="b" * 32, family="ledger-close"))

    assert sorted(channel for channel, _, _ in chat.posts) == ["#invoice-export", "#ledger-close"]


def test_a_run_that_stopped_after_the_window_starts_a_new_message_however_soon_it_is_processed(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, window=300)
    first = report_of("stopped-nonzero-exit", task_id="1" * 32)
    second = report_of("stopped-nonzero-exit", task_id="2" * 32, later=timedelta(seconds=301))

    n.publish(first)
    n.publish(second)  # the same processing instant

    assert len(chat.posts) == 2


def test_failures_days_apart_are_not_grouped_even_when_processed_together(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    runs = [
        report_of("stopped-nonzero-exit", task_id=f"{i:032x}", later=timedelta(days=2 * i)) for i in range(3)
    ]

    for run in runs:
        n.publish(run)

    assert [alert.title for _, alert, _ in chat.posts] == ["invoice-export failed"] * 3
    assert chat.updates == []


def test_a_storms_since_is_its_first_runs_own_stop_time_not_the_processing_clock(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, clock=Clock(datetime(2026, 12, 5, 12, 0, tzinfo=UTC)))

    for run in failing_runs(report_of, 2):
        n.publish(run)

    assert chat.updates[-1][1].title == "invoice-export failing: 2 failed runs since 2025-03-04 05:41:44 UTC"


def test_a_late_run_joins_the_closed_window_its_stop_time_falls_in(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """A run whose event comes after a newer window opened is named in its own window's message,
    not grouped with the newer runs and not alone."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    n.publish(report_of("stopped-nonzero-exit", task_id="1" * 32))
    n.publish(report_of("stopped-nonzero-exit", task_id="3" * 32, later=timedelta(days=1)))

    n.publish(report_of("stopped-nonzero-exit", task_id="2" * 32, later=timedelta(seconds=40)))

    assert len(chat.posts) == 2
    [(ref, alert)] = chat.updates
    assert ref.ts == "1700000000.000001"
    assert alert.title == "invoice-export failing: 2 failed runs since 2025-03-04 05:41:44 UTC"
    assert f"• {'2' * 32}: failed" in alert.cause.splitlines()


def test_late_runs_with_no_window_of_their_own_share_one_apart_from_the_newer_runs(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Events out of order: the newer run's window is open when two older runs arrive. They are
    not grouped with it (days apart), and not alone each: one message of their own names both."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    n.publish(report_of("stopped-nonzero-exit", task_id="3" * 32, later=timedelta(days=1)))

    n.publish(report_of("stopped-nonzero-exit", task_id="1" * 32))
    n.publish(report_of("stopped-nonzero-exit", task_id="2" * 32, later=timedelta(seconds=40)))

    assert [alert.title for _, alert, _ in chat.posts] == ["invoice-export failed"] * 2
    [(ref, alert)] = chat.updates
    assert ref.ts == "1700000000.000002"
    assert alert.title == "invoice-export failing: 2 failed runs since 2025-03-04 05:41:44 UTC"
    assert "3" * 32 not in alert.cause


def test_a_window_is_not_rounded_down_to_the_second(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """The first run stopped at :44.127; a run 1.9 s later is inside a 2 s window (:44.127-:46.127),
    one 2.1 s later is not. Rounded down to :44, the window would end at :46.000 and drop the first."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, window=2)
    n.publish(report_of("stopped-nonzero-exit", task_id="1" * 32))

    n.publish(report_of("stopped-nonzero-exit", task_id="2" * 32, later=timedelta(seconds=1.9)))
    n.publish(report_of("stopped-nonzero-exit", task_id="3" * 32, later=timedelta(seconds=2.1)))

    assert len(chat.posts) == 2
    assert "2 failed runs" in chat.updates[-1][1].title


def test_a_storm_member_delivered_twice_in_new_containers_counts_once(
    dynamodb: Any, state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    first, second = failing_runs(report_of, 2)

    notifier(chat=chat, state=state).publish(first)
    notifier(chat=chat, state=state).publish(second)
    notifier(chat=chat, state=state).publish(second)  # memory guards are fresh: only the state dedupes

    join = state.join_storm("invoice-export", member_of(second), 300)
    assert join is not None
    assert join.count == 2
    assert join.is_new_member is False
    assert len(chat.updates) == 1


def test_a_burst_of_failures_updates_the_message_only_at_milestones(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)

    for run in failing_runs(report_of, 25):
        n.publish(run)

    assert len(chat.posts) == 1
    assert [alert.fields[0][1] for _, alert in chat.updates] == ["2", "3", "4", "5", "10", "20"]

    n.flush()  # the end of the invocation shows what no milestone did

    assert [alert.fields[0][1] for _, alert in chat.updates][-1] == "25"


def test_end_of_invocation_updates_of_one_storm_keep_slacks_rate_limit_gap(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Two invocations right after each other, each with a non-milestone join: the second waits out
    the gap since the first update (chat.update is rate-limited), then shows everything stored."""
    clock = Clock()
    times: list[datetime] = []

    class TimedChat(RecordingChat):
        def update(self, ref: MessageRef, alert: Alert) -> None:
            times.append(clock.now)
            super().update(ref, alert)

    chat = TimedChat()
    n = notifier(chat=chat, state=state, clock=clock)
    runs = failing_runs(report_of, 7)
    for run in runs[:6]:
        n.publish(run)
    n.flush()  # 6 is no milestone: shown at the end of the invocation
    n.publish(runs[6])
    n.flush()

    assert [alert.fields[0][1] for _, alert in chat.updates][-2:] == ["6", "7"]
    assert (times[-1] - times[-2]).total_seconds() >= notifier_module.UPDATE_GAP_SECONDS


@pytest.mark.parametrize(
    ("count", "update"),
    [
        (1, False),
        (2, True),
        (5, True),
        (6, False),
        (10, True),
        (20, True),
        (30, False),
        (50, True),
        (500, True),
    ],
)
def test_update_milestones_follow_a_1_2_5_series_after_five(count: int, update: bool) -> None:
    assert is_update_milestone(count) is update


def test_a_run_that_joins_while_another_is_posting_waits_for_that_post_and_is_shown_in_it(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    first, second = failing_runs(report_of, 2)
    # The first run has opened the window and claimed the post, but has not posted yet.
    join = state.join_storm("invoice-export", member_of(first), 300)
    assert join is not None
    assert state.claim_storm_post("invoice-export", join.window_start, first.event.task.arn, T0)

    with pytest.raises(TransientError, match="not posted yet"):  # waited, then fails: redelivered later
        notifier(chat=chat, state=state).publish(second)
    assert chat.posts == []

    notifier(chat=chat, state=state).publish(first)  # the claimant finishes (its redelivery)
    [(_, posted, _)] = chat.posts
    assert "2 failed runs" in posted.title  # rendered from every member stored
    assert f"• {'0' * 31}2: failed" in posted.cause.splitlines()


def test_a_claimant_that_cannot_post_is_taken_over_by_a_later_member_with_every_member(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Issue 13 item 2: run A claims the post and Slack fails until its item fails; run B joins.
    B's item fails too (the post is not there), and B's redelivery — after A's lease ran out,
    whatever the order of the visibility timeout and the window — posts one message naming both."""
    chat, clock = RecordingChat(), Clock()
    a, b = failing_runs(report_of, 2)
    chat.fail_next = 1
    with pytest.raises(TransientError):
        notifier(chat=chat, state=state, clock=clock).publish(a)
    with pytest.raises(TransientError):
        notifier(chat=chat, state=state, clock=clock).publish(b)

    clock.now += timedelta(seconds=360)  # SQS visibility timeout: B comes back first
    notifier(chat=chat, state=state, clock=clock).publish(b)
    notifier(chat=chat, state=state, clock=clock).publish(a)  # A's redelivery: nothing more to post

    [(_, posted, _)] = chat.posts
    assert posted.title.startswith("invoice-export failing: 2 failed runs")
    assert {f"• {'0' * 31}1: failed", f"• {'0' * 31}2: failed"} <= set(posted.cause.splitlines())


def test_a_newer_failure_takes_over_an_unposted_window_before_opening_its_own(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat, clock = RecordingChat(), Clock()
    a = report_of("stopped-nonzero-exit", task_id="a" * 32)
    later = report_of("stopped-nonzero-exit", task_id="b" * 32, later=timedelta(minutes=10))
    chat.fail_next = 1
    with pytest.raises(TransientError):
        notifier(chat=chat, state=state, clock=clock).publish(a)

    clock.now += timedelta(seconds=state_module.POST_LEASE_SECONDS + 1)
    notifier(chat=chat, state=state, clock=clock).publish(later)

    assert ["a" * 32 in alert.cause for _, alert, _ in chat.posts] == [True, False]
    assert chat.posts[1][1].title == "invoice-export failed"


def test_with_a_webhook_a_storm_posts_once_and_never_updates(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat(webhook=True)
    n = notifier(chat=chat, state=state)

    for run in failing_runs(report_of, 4):
        n.publish(run)

    assert len(chat.posts) == 1
    assert chat.updates == []


def test_a_huge_storm_keeps_counting_after_it_stops_remembering_members(
    state: DynamoNotificationState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "MEMBER_LIMIT", 3)

    joins = [state.join_storm("big", member(f"run-{i}", "boom"), 300) for i in range(6)]

    assert [j.count for j in joins if j] == [1, 2, 3, 4, 5, 6]


def test_the_storm_message_lists_the_latest_cause_first(state: DynamoNotificationState) -> None:
    state.join_storm("job", member("run-1", "exit 1"), 300)
    state.join_storm("job", member("run-2", "exit 2"), 300)

    join = state.join_storm("job", member("run-3", "out of memory"), 300)

    assert join is not None
    assert join.causes[0] == "out of memory"
    assert set(join.causes) == {"exit 1", "exit 2", "out of memory"}


def news_of(report: RunReport, title: str, severity: str) -> tuple[Alert, Alert]:
    """A thread reply and what the run's parent should now say, as the coordinator sends them."""
    reply = Alert(
        run_key=report.event.task.arn,
        job=report.job,
        title=f"{report.job}: {title}",
        severity=severity,
        outcome="failed",
        cause=report.cause,
        fields=(),
        links=(),
    )
    return reply, replace(reply, title=f"{report.job} {title}")


def tell(n: Notifier, run: RunReport, title: str, severity: str) -> None:
    """The news in one invocation (its end shows the storm's message up to date)."""
    reply, parent = news_of(run, title, severity)
    n.follow_up(run.event.task.arn, reply, update_parent=parent)
    n.flush()


def test_a_storm_shows_its_members_states_and_its_worst_open_state_as_title(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Issue 13 item 1: run 1 is retried and recovers, run 2 failed for good: the message must
    not say "recovered" (it said "alpha recovered after 1 retry" and run 2 was gone)."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    run1, run2 = failing_runs(report_of, 2)
    n.publish(run1)
    n.publish(run2)

    tell(n, run1, "failed, retrying (attempt 2/3)", "warning")
    tell(n, run2, "gave up after 1 attempts", "error")
    tell(n, run1, "recovered after 1 retry", "success")

    summary = chat.updates[-1][1]
    assert summary.title == "invoice-export failing: 2 failed runs since 2025-03-04 05:41:44 UTC"
    assert summary.severity == "error"
    assert summary.cause.splitlines()[:3] == [
        "1 failed · 1 recovered on retry",
        f"• {'0' * 31}1: recovered on retry",
        f"• {'0' * 31}2: failed",
    ]
    assert {ref.ts for ref, _ in chat.updates} == {"1700000000.000001"}
    assert [thread.ts for _, _, thread in chat.posts[1:] if thread] == ["1700000000.000001"] * 3


def test_a_storm_says_recovered_only_when_every_member_recovered(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    runs = failing_runs(report_of, 3)
    for run in runs:
        n.publish(run)
    titles = []

    for title, severity in (
        ("failed, retrying (attempt 2/3)", "warning"),
        ("recovered after 1 retry", "success"),
    ):
        for run in runs:
            tell(n, run, title, severity)
            titles.append(chat.updates[-1][1].title.split(":")[0])

    assert titles == ["invoice-export failing"] * 2 + ["invoice-export retrying"] * 3 + [
        "invoice-export recovered"
    ]
    assert chat.updates[-1][1].cause.splitlines()[0] == "3 recovered on retry"
    assert chat.updates[-1][1].severity == "success"


def test_the_news_of_a_batch_of_members_costs_one_update_of_the_storm(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """chat.update is rate-limited: three retries scheduled in one invocation, one update at its end."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    runs = failing_runs(report_of, 3)
    for run in runs:
        n.publish(run)
    n.flush()
    before = len(chat.updates)

    for run in runs:
        reply, parent = news_of(run, "failed, retrying (attempt 2/3)", "warning")
        n.follow_up(run.event.task.arn, reply, update_parent=parent)
    n.flush()

    assert len(chat.updates) == before + 1
    assert chat.updates[-1][1].cause.splitlines()[0] == "3 retrying"
    assert len([thread for _, _, thread in chat.posts if thread]) == 3


def test_the_run_that_posted_a_storm_never_replaces_it_with_its_own_news(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Issue 13 item 12: the poster's "failed, retrying (attempt 2/3)" replaced the whole text."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    poster, other = failing_runs(report_of, 2)
    n.publish(poster)
    n.publish(other)

    reply, parent = news_of(poster, "failed, retrying (attempt 2/3)", "warning")
    n.follow_up(poster.event.task.arn, reply, update_parent=parent)
    n.flush()

    assert all(alert.outcome == "storm" for _, alert in chat.updates)
    assert chat.updates[-1][1].cause.splitlines()[0] == "1 failed · 1 retrying"
    assert chat.posts[-1][1] == reply


def test_news_of_a_member_whose_storm_is_not_posted_yet_waits_for_the_message(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    a, b = failing_runs(report_of, 2)
    join = state.join_storm("invoice-export", member_of(a), 300)
    assert join is not None
    state.claim_storm_post("invoice-export", join.window_start, a.event.task.arn, T0)
    state.join_storm("invoice-export", member_of(b), 300)
    reply, parent = news_of(b, "failed, retrying (attempt 2/3)", "warning")

    with pytest.raises(TransientError, match="not posted yet"):
        notifier(chat=chat, state=state).follow_up(b.event.task.arn, reply, update_parent=parent)
    notifier(chat=chat, state=state).publish(a)  # the poster's redelivery posts, with B retrying

    [(_, posted, _)] = chat.posts
    assert posted.cause.splitlines()[0] == "1 failed · 1 retrying"


# ------------------------------------------------------------------ threads


def test_news_about_an_alerted_run_goes_into_its_thread_and_refreshes_the_parent(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    report = report_of("stopped-nonzero-exit")
    n.publish(report)
    parent = chat.posts[0][1]
    news = Alert(
        run_key=report.event.task.arn,
        job="invoice-export",
        title="retry started",
        severity="info",
        outcome="retrying",
        cause="attempt 2/3",
        fields=(),
        links=(),
    )

    followed = n.follow_up(report.event.task.arn, news, update_parent=parent)
    n.flush()

    assert followed is True
    assert chat.posts[-1][2] == MessageRef(channel="C123", ts="1700000000.000001", own=False)
    assert chat.updates[-1][0].ts == "1700000000.000001"
    assert chat.updates[-1][1] == parent  # the window's only run: its own news, not a storm of one


def test_a_run_never_alerted_has_no_thread_to_follow(state: DynamoNotificationState) -> None:
    chat = RecordingChat()
    news = Alert(
        run_key="arn:x", job="j", title="t", severity="info", outcome="o", cause="c", fields=(), links=()
    )

    assert notifier(chat=chat, state=state).follow_up("arn:x", news) is False
    assert chat.posts == []


def test_the_datadog_event_carries_attempt_and_the_root_runs_aggregation_key(
    report_of: Callable[..., RunReport],
) -> None:
    events = RecordingEvents()
    report = report_of("stopped-nonzero-exit", task_id="b" * 32)

    notifier(events=events).publish(
        report, Attempt(number=2, of=3, root_task_arn="arn:aws:ecs:r:1:task/c/" + "a" * 32)
    )

    [event] = events.events
    assert event.title == "invoice-export failed (attempt 2/3)"
    assert event.aggregation_key == f"ecswatch:invoice-export:{'a' * 32}"
    assert "attempt:2" in event.tags


# ------------------------------------------------------------------ keys built from input


LONG_RUN_KEY = "launch:" + "e" * 2100  # a CloudTrail eventID (or task ARN) longer than DynamoDB's key limit


def test_a_thread_of_a_run_whose_key_exceeds_dynamodbs_limit_is_saved_and_found(
    state: DynamoNotificationState,
) -> None:
    """Issue 13 item 3: a 2 KB input-derived key made every write fail, so every redelivery posted
    again (five posts over five deliveries). Keys longer than DynamoDB allows are hashed."""
    ref = MessageRef(channel="C1", ts="1700000000.000100")

    state.save_thread(LONG_RUN_KEY, ref)

    assert state.thread_for(LONG_RUN_KEY) == ref
    assert state.thread_for(LONG_RUN_KEY[:-1] + "f") is None


def test_the_lineage_of_a_task_whose_arn_exceeds_dynamodbs_limit_is_recorded_and_read(
    state: DynamoNotificationState,
) -> None:
    arn = "arn:aws:ecs:eu-west-1:123456789012:task/batch/" + "a" * 2100
    lineage = Lineage(root_task_arn="root", attempt=2, of=3, job="invoice-export")

    state.record_lineage(arn, lineage)

    assert state.lineage_of(arn) == lineage


# ------------------------------------------------------------------ one message per alert, whatever fails


class FlakyState(DynamoNotificationState):
    """The state table, with the write that remembers a post failing ``failures`` times first, as a
    throttled DynamoDB does after the SDK's own retries."""

    def __init__(self, client: Any, *, save_thread: int = 0, set_storm_message: int = 0) -> None:
        super().__init__(client, TABLE)
        self.failures = {"save_thread": save_thread, "set_storm_message": set_storm_message}
        self.attempts = {"save_thread": 0, "set_storm_message": 0}

    def _flaky(self, name: str) -> None:
        self.attempts[name] += 1
        if self.failures[name] > 0:
            self.failures[name] -= 1
            raise TransientError(f"DynamoDB {name}: ProvisionedThroughputExceededException")

    def save_thread(self, run_key: str, ref: MessageRef) -> None:
        self._flaky("save_thread")
        super().save_thread(run_key, ref)

    def set_storm_message(self, job: str, window_start: datetime, ref: MessageRef, shown: int) -> Any:
        self._flaky("set_storm_message")
        return super().set_storm_message(job, window_start, ref, shown)


def thread_ts(state: DynamoNotificationState, run_key: str) -> str | None:
    """The ts of the message later news about the run goes into (its own, or its storm's)."""
    ref = state.thread_for(run_key)
    return ref.ts if ref is not None else None


@pytest.mark.parametrize("window", [300, 0], ids=["storm", "alone"])
def test_a_post_slack_stored_but_answered_after_the_timeout_is_adopted_by_the_redelivery(
    state: DynamoNotificationState, report_of: Callable[..., RunReport], window: int
) -> None:
    """Issue 13 item 3: the client gave up on a post Slack stored; the item failed and the redelivery
    posted the same alert again. Now the intent recorded before the post sends the redelivery to
    look the message up (by its metadata key), and it is remembered instead of posted twice."""
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, window=window)
    report = report_of("stopped-nonzero-exit")
    chat.time_out_next = 1

    with pytest.raises(TransientError):
        n.publish(report)
    n.publish(report)  # SQS redelivers

    assert len(chat.posts) == 1
    [(key, since, thread)] = chat.lookups
    assert key in chat.keys
    assert thread is None
    assert since <= T0
    assert thread_ts(state, report.event.task.arn) == "1700000000.000001"


def test_a_first_post_looks_nothing_up(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()

    notifier(chat=chat, state=state).publish(report_of("stopped-nonzero-exit"))

    assert len(chat.posts) == 1
    assert chat.lookups == []


def test_a_post_slack_never_stored_is_posted_by_the_redelivery(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state)
    report = report_of("stopped-nonzero-exit")
    chat.fail_next = 1

    with pytest.raises(TransientError):
        n.publish(report)
    n.publish(report)

    assert len(chat.posts) == 1
    assert len(chat.lookups) == 1


@pytest.mark.parametrize("window", [300, 0], ids=["storm", "alone"])
def test_the_write_that_remembers_a_post_is_retried_within_the_invocation(
    dynamodb: Any, report_of: Callable[..., RunReport], window: int
) -> None:
    """A throttled write after a post (the thread record, the storm's message ref) failed the item
    and the redelivery posted again; it is now tried again, briefly, before the item fails."""
    state = FlakyState(dynamodb, save_thread=2, set_storm_message=2)
    chat = RecordingChat()
    report = report_of("stopped-nonzero-exit")

    notifier(chat=chat, state=state, window=window).publish(report)

    assert len(chat.posts) == 1
    assert thread_ts(state, report.event.task.arn) == "1700000000.000001"
    assert max(state.attempts.values()) == 3


@pytest.mark.parametrize("window", [300, 0], ids=["storm", "alone"])
def test_a_write_after_a_post_that_keeps_failing_fails_the_item_and_the_redelivery_adopts_the_post(
    dynamodb: Any, report_of: Callable[..., RunReport], window: int
) -> None:
    state = FlakyState(
        dynamodb, save_thread=notifier_module.REMEMBER_TRIES, set_storm_message=notifier_module.REMEMBER_TRIES
    )
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, window=window)
    report = report_of("stopped-nonzero-exit")

    with pytest.raises(TransientError):
        n.publish(report)
    n.publish(report)  # the table answers again

    assert len(chat.posts) == 1
    assert thread_ts(state, report.event.task.arn) == "1700000000.000001"


def test_a_failed_lookup_fails_the_item_while_the_intent_is_recent_then_posts(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """If Slack cannot say whether the first post arrived, the item waits for a redelivery rather
    than post blindly; once the intent is older than the hold, it posts (a possible duplicate is
    better than a lost alert: SQS gives up after five deliveries)."""
    chat, clock = RecordingChat(), Clock()
    n = notifier(chat=chat, state=state, clock=clock, window=0)
    report = report_of("stopped-nonzero-exit")
    chat.fail_next = 1
    chat.lookups_fail = True

    with pytest.raises(TransientError):
        n.publish(report)
    clock.now += timedelta(seconds=360)  # the visibility timeout
    with pytest.raises(TransientError):
        n.publish(report)
    assert chat.posts == []

    clock.now += timedelta(seconds=notifier_module.LOOKUP_HOLD_SECONDS)
    n.publish(report)

    assert len(chat.posts) == 1


def test_news_in_a_thread_whose_reply_timed_out_is_not_replied_twice(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    n = notifier(chat=chat, state=state, window=0)
    report = report_of("stopped-nonzero-exit")
    n.publish(report)
    news = Alert(
        run_key=report.event.task.arn,
        job="invoice-export",
        title="retry 2/3 scheduled",
        severity="info",
        outcome="retrying",
        cause="in 60 s",
        fields=(),
        links=(),
    )
    chat.time_out_next = 1

    with pytest.raises(TransientError):
        n.follow_up(report.event.task.arn, news)
    assert n.follow_up(report.event.task.arn, news) is True

    assert [alert.title for _, alert, thread in chat.posts if thread is not None] == ["retry 2/3 scheduled"]
    assert chat.lookups[-1][2] is not None  # looked up in the thread


def test_with_a_webhook_a_post_that_timed_out_may_be_posted_twice(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """Documented: a webhook cannot look anything up, so a timeout may still cost a duplicate."""
    chat = RecordingChat(webhook=True)
    n = notifier(chat=chat, state=state, window=0)
    report = report_of("stopped-nonzero-exit")
    chat.time_out_next = 1

    with pytest.raises(TransientError):
        n.publish(report)
    n.publish(report)

    assert len(chat.posts) == 2


def test_an_intent_to_post_is_recorded_once_and_read_by_later_attempts_until_it_is_stale(
    state: DynamoNotificationState,
) -> None:
    key = "slack#" + "a" * 2100  # bounded in the table's key

    assert state.intend_post(key, "#jobs", T0, within=3600) is None
    assert state.intend_post(key, "#jobs", T0 + timedelta(minutes=6), within=3600) == T0
    assert state.intend_post(key, "#jobs", T0 + timedelta(minutes=12), within=3600) == T0
    assert state.intend_post(key, "#jobs", T0 + timedelta(hours=2), within=3600) is None  # a new alert
    assert state.intend_post("another", "#jobs", T0, within=3600) is None


def test_a_storm_post_found_after_a_timeout_is_rendered_again_with_whoever_joined_meanwhile(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """A's post timed out (Slack stored it, naming A alone); B joined while A's lease held and failed
    its item waiting. A's redelivery finds its message and shows both: adopting a message must not
    take it for showing members it was never rendered with."""
    chat, clock = RecordingChat(), Clock()
    n = notifier(chat=chat, state=state, clock=clock)
    a, b = failing_runs(report_of, 2)
    chat.time_out_next = 1

    with pytest.raises(TransientError):
        n.publish(a)
    with pytest.raises(TransientError):
        n.publish(b)  # waits for A's post, then fails its item
    n.publish(a)  # A's redelivery
    n.publish(b)

    assert len(chat.posts) == 1
    assert "2 failed runs" in chat.updates[-1][1].title
    assert {ref.ts for ref, _ in chat.updates} == {"1700000000.000001"}


def test_the_key_a_post_carries_is_bounded_whatever_the_task_arn(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    """The key goes into Slack's metadata and a DynamoDB key: a forged 2 KB task ARN is hashed."""
    chat = RecordingChat()
    report = report_of("stopped-nonzero-exit", task_id="a" * 2100)

    notifier(chat=chat, state=state, window=0).publish(report)

    [key] = chat.keys
    assert len(key.encode()) <= notifier_module.KEY_MAX
    assert key.startswith("slack#arn:aws:ecs:")
