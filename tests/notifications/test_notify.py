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

from ecswatch.adapters.dynamodb import state as state_module
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard, PowertoolsOnceGuard
from ecswatch.adapters.dynamodb.state import DynamoNotificationState
from ecswatch.config.routing import Routing
from ecswatch.errors import TransientError
from ecswatch.notifications.notifier import Notifier, is_update_milestone
from ecswatch.run import Alert, Attempt, DatadogEvent, MessageRef, MetricPoint, RunReport
from tests.fakes import FixedLogs, report_from

pytestmark = pytest.mark.offline

TABLE = "ecswatch-state"
T0 = datetime(2026, 3, 4, 5, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------ fakes


class RecordingChat:
    def __init__(self, *, webhook: bool = False) -> None:
        self.posts: list[tuple[str, Alert, MessageRef | None]] = []
        self.updates: list[tuple[MessageRef, Alert]] = []
        self.fail_next = 0
        self._webhook = webhook

    def post(self, channel: str, alert: Alert, *, thread: MessageRef | None = None) -> MessageRef | None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("slack is down")
        self.posts.append((channel, alert, thread))
        return None if self._webhook else MessageRef(channel="C123", ts=f"1700000000.{len(self.posts):06d}")

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
    def make(name: str, *, task_id: str | None = None, family: str | None = None) -> RunReport:
        raw = copy.deepcopy(load_event(name))
        detail = raw["detail"]
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
    return Notifier(
        guard=guard or MemoryOnceGuard(),
        routing=lambda job: Routing(channel=f"#{job}", notify_success=notify_success),
        chat=chat,
        events=events,
        state=state,
        storm_window_seconds=window,
        clock=clock or Clock(),
    )


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


def test_a_failure_after_the_window_starts_a_new_message(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat, clock = RecordingChat(), Clock()
    n = notifier(chat=chat, state=state, clock=clock, window=300)
    first, second = failing_runs(report_of, 2)

    n.publish(first)
    clock.now += timedelta(seconds=301)
    n.publish(second)

    assert len(chat.posts) == 2
    assert chat.updates == []


def test_a_storm_member_delivered_twice_in_new_containers_counts_once(
    dynamodb: Any, state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    first, second = failing_runs(report_of, 2)

    notifier(chat=chat, state=state).publish(first)
    notifier(chat=chat, state=state).publish(second)
    notifier(chat=chat, state=state).publish(second)  # memory guards are fresh: only the state dedupes

    join = state.join_storm("invoice-export", second.event.task.arn, "x", T0, 300)
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


def test_a_run_that_joins_while_another_is_posting_does_not_post_and_is_folded_into_the_count(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat = RecordingChat()
    first, second = failing_runs(report_of, 2)
    # The first run has opened the window and claimed the post, but has not posted yet.
    join = state.join_storm("invoice-export", first.event.task.arn, "exit 2", T0, 300)
    assert state.claim_storm_post("invoice-export", join.window_start, first.event.task.arn, T0)

    notifier(chat=chat, state=state).publish(second)
    assert chat.posts == []

    notifier(chat=chat, state=state).publish(first)  # the claimant finishes (its redelivery)
    assert len(chat.posts) == 1
    assert "2 failed runs" in chat.updates[-1][1].title


def test_an_expired_post_claim_lets_another_run_post(
    state: DynamoNotificationState, report_of: Callable[..., RunReport]
) -> None:
    chat, clock = RecordingChat(), Clock()
    first, second = failing_runs(report_of, 2)
    join = state.join_storm("invoice-export", first.event.task.arn, "exit 2", T0, 300)
    state.claim_storm_post("invoice-export", join.window_start, first.event.task.arn, T0)  # ... and then died
    clock.now = T0 + timedelta(seconds=state_module.POST_LEASE_SECONDS + 1)

    notifier(chat=chat, state=state, clock=clock).publish(second)

    assert len(chat.posts) == 1


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

    joins = [state.join_storm("big", f"run-{i}", "boom", T0, 300) for i in range(6)]

    assert [j.count for j in joins] == [1, 2, 3, 4, 5, 6]


def test_the_storm_message_lists_the_latest_cause_first(state: DynamoNotificationState) -> None:
    state.join_storm("job", "run-1", "exit 1", T0, 300)
    state.join_storm("job", "run-2", "exit 2", T0, 300)

    join = state.join_storm("job", "run-3", "out of memory", T0, 300)

    assert join.causes[0] == "out of memory"
    assert set(join.causes) == {"exit 1", "exit 2", "out of memory"}


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

    assert followed is True
    assert chat.posts[-1][2] == MessageRef(channel="C123", ts="1700000000.000001")
    assert chat.updates[-1][0].ts == "1700000000.000001"


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
