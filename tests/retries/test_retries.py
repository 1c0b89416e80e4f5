"""Retries happen once, carry the run's parameters, and tell their story in the first alert's thread.

The coordinators run with recording fakes for the retry queue, RunTask and Slack,
the demo's job config (invoice-export: 3 attempts, retry exit 2), and the
in-memory guard and lineage (the DynamoDB versions are tested in test_notify).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from msgspec.structs import replace

from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard
from ecswatch.adapters.dynamodb.state import MemoryLineage
from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.loader import load_config, parse_config
from ecswatch.config.model import JobsConfig, RetryAction
from ecswatch.config.routing import Routing
from ecswatch.config.settings import Settings
from ecswatch.coordinators.roles import wire_roles
from ecswatch.errors import DeliveryError, LaunchNotStarted, TransientError
from ecswatch.events.taskdef import TaskDefinition
from ecswatch.notifications.notifier import Notifier
from ecswatch.ports import LineageStore, NetworkDiscovery, RunSink, TaskReader, TaskRunner
from ecswatch.retries.request import request_from_event
from ecswatch.run import Alert, LaunchResult, LogTail, MessageRef, RetryRequest, RunReport
from local import DEMO_JOBS_CONFIG
from tests.fakes import MemoryThreads, RecordingChat, RecordingQueue, RecordingRunner

JOBS = load_config(DEMO_JOBS_CONFIG)
ARN_PREFIX = "arn:aws:ecs:eu-west-1:123456789012:task/batch/"


class NoTaskDefinitions:
    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        return None


class NoLogs:
    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        return LogTail(note="no logs here")


class World:
    """The four roles wired as the factory wires them, around recording fakes; ``jitter_seed=None``
    seeds the backoff jitter with each run's key, as deployed."""

    def __init__(
        self,
        *,
        jobs: JobsConfig = JOBS,
        lineage: LineageStore | None = None,
        network: NetworkDiscovery | None = None,
        runner: TaskRunner | None = None,
        tasks: TaskReader | None = None,
        sinks: Sequence[RunSink] = (),
        jitter_seed: int | None = 7,
    ) -> None:
        self.chat, self.queue = RecordingChat(), RecordingQueue()
        self.runner = RecordingRunner(lambda request, n: f"{ARN_PREFIX}{n:032x}")
        self.lineage = lineage or MemoryLineage()
        guard = MemoryOnceGuard()
        self.notifier = Notifier(
            guard=guard,
            routing=lambda job: Routing(channel=f"#{job}"),
            chat=self.chat,
            state=MemoryThreads(),  # type: ignore[arg-type]
            storm_window_seconds=0,
        )
        rng = random.Random(jitter_seed) if jitter_seed is not None else None
        roles = wire_roles(
            notifier=self.notifier,
            guard=guard,
            lineage=self.lineage,
            jobs=jobs,
            queue=self.queue,
            runner=runner or self.runner,
            rng=rng,
            network=network,
            sinks=sinks,
            tasks=tasks,
        )
        self.runs, self.launches, self.launcher = roles.runs, roles.launches, roles.launcher

    def stop(self, report: RunReport) -> Any:
        return self.runs.handle(report)

    def launch_last(self) -> LaunchResult | None:
        request, _ = self.queue.requests[-1]
        return self.launcher.launch(request)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def run(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., RunReport]:
    return report_maker(load_event)


def report_maker(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., RunReport]:
    """A report of a sample event, as the task with ``task_id``, with an optional exit code."""

    def make(name: str, *, task_id: str, exit_code: int | None = None, **detail: Any) -> RunReport:
        raw = copy.deepcopy(load_event(name))
        raw["detail"]["taskArn"] = ARN_PREFIX + task_id
        raw["detail"].update(detail)
        if exit_code is not None:
            raw["detail"]["containers"][-1]["exitCode"] = exit_code
        report = process_task_event(
            raw, settings=Settings(), task_definitions=NoTaskDefinitions(), logs=NoLogs(), jobs=JOBS
        )
        assert isinstance(report, RunReport)
        return report

    return make


def launched_id(result: LaunchResult | None) -> str:
    assert result is not None
    assert result.task_arn is not None
    return result.task_arn.rsplit("/", 1)[-1]


def test_a_failure_the_policy_retries_schedules_the_next_attempt_with_the_runs_parameters(
    world: World, run: Callable[..., RunReport]
) -> None:
    report = run("stopped-nonzero-exit", task_id="a" * 32)

    result = world.stop(report)

    assert result.decision.action is RetryAction.RETRY
    [(request, delay)] = world.queue.requests
    assert (request.attempt, request.of, request.job) == (2, 3, "invoice-export")
    assert request.root_task_arn == request.previous_task_arn == ARN_PREFIX + "a" * 32
    assert request.task_definition_arn == report.event.task_definition.arn
    assert request.overrides == dict(report.event.raw_overrides)
    assert request.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0c4e6a8b1d3f57920", "subnet-0a1f3c5e7b9d24680"],
            "assignPublicIp": "DISABLED",
            "securityGroups": ["sg-0b7d2e4f6a8c13579"],
        }
    }
    assert 0 <= delay <= 120


def test_scheduling_a_retry_is_told_in_the_alerts_thread_and_the_alert_says_retrying(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    [(_, first, _), (_, reply, thread)] = world.chat.posts
    assert first.title == "invoice-export failed (attempt 1/3)"
    assert thread == MessageRef(channel="#invoice-export", ts="1.1")
    assert reply.title.startswith("invoice-export: retry 2/3 scheduled in ")
    assert world.chat.updates[-1][1].title == "invoice-export failed, retrying (attempt 2/3)"


def test_duplicate_stopped_events_schedule_one_retry(world: World, run: Callable[..., RunReport]) -> None:
    report = run("stopped-nonzero-exit", task_id="a" * 32)

    world.stop(report)
    world.stop(report)

    assert len(world.queue.requests) == 1
    assert len(world.chat.posts) == 2


def test_a_duplicate_retry_request_launches_one_task(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    first = world.launch_last()
    second = world.launch_last()

    assert first is not None
    assert second is None
    assert len(world.runner.runs) == 1


def test_lineage_follows_three_attempts_and_gives_up_after_the_last(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    second = launched_id(world.launch_last())
    result = world.stop(run("stopped-nonzero-exit", task_id=second, startedBy="ecswatch-retry/2"))
    assert result.attempt.label == "2/3"
    third = launched_id(world.launch_last())

    final = world.stop(run("stopped-nonzero-exit", task_id=third, startedBy="ecswatch-retry/3"))

    assert final.attempt.label == "3/3"
    assert final.attempt.root_task_arn == ARN_PREFIX + "a" * 32
    assert final.decision.action is RetryAction.EXIT
    assert [r.attempt for r, _ in world.queue.requests] == [2, 3]
    assert world.chat.updates[-1][1].title == "invoice-export gave up after 3 attempts"
    assert len([p for p in world.chat.posts if p[2] is None]) == 1  # one alert; the rest is its thread


def test_a_retry_that_succeeds_is_announced_as_recovered(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    second = launched_id(world.launch_last())

    world.stop(run("stopped-nonzero-exit", task_id=second, exit_code=0, startedBy="ecswatch-retry/2"))

    assert world.chat.replies()[-1] == "invoice-export recovered on attempt 2/3"
    assert world.chat.updates[-1][1].title == "invoice-export recovered after 1 retry"
    assert world.chat.updates[-1][1].severity == "success"


def test_a_launched_retry_is_told_in_the_thread(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    world.launch_last()

    assert world.chat.replies()[-1] == "invoice-export attempt 2/3 started"


def test_a_retry_ecs_refuses_is_alerted_not_dropped(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    world.runner.answers = [LaunchResult(failure="InvalidParameterException: subnet not found")]

    result = world.launch_last()

    assert result == LaunchResult(failure="InvalidParameterException: subnet not found")
    [(_, news, _)] = [p for p in world.chat.posts if p[1].title.endswith("could not be launched")]
    assert news.cause == "InvalidParameterException: subnet not found"
    assert world.chat.updates[-1][1].title == "invoice-export gave up: retry 2/3 could not be launched"


def test_runtask_throttling_fails_the_request_so_its_redelivery_launches_it(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    world.runner.answers = [TransientError("ThrottlingException")]

    with pytest.raises(TransientError):
        world.launch_last()
    again = world.launch_last()

    assert again is not None
    assert again.task_arn is not None
    assert len(world.runner.runs) == 2
    assert world.runner.runs[0].client_token == world.runner.runs[1].client_token


def test_a_task_a_user_stopped_is_never_retried(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(
        run(
            "stopped-timed-out",
            task_id="b" * 32,
            stopCode="UserInitiated",
            stoppedReason="Task stopped by user",
        )
    )

    assert world.queue.requests == []


def test_a_plain_failure_of_a_job_without_retries_is_only_alerted(
    world: World, run: Callable[..., RunReport]
) -> None:
    result = world.stop(run("stopped-sidecar-app-failed", task_id="c" * 32))

    assert result.decision.action is RetryAction.EXIT
    assert world.queue.requests == []
    assert world.chat.replies() == []


def test_a_manual_retry_launches_the_next_attempt_with_the_same_parameters(
    world: World, run: Callable[..., RunReport]
) -> None:
    report = run("stopped-sidecar-app-failed", task_id="c" * 32)

    result = world.launcher.manual_retry(report.event)

    assert result is not None
    [request] = world.runner.runs
    assert (request.attempt, request.trigger, request.reason) == (2, "manual", "manual retry")
    assert request.task_definition_arn == report.event.task_definition.arn
    assert request.root_task_arn == report.event.task.arn


def test_the_retry_request_survives_its_trip_through_a_queue(run: Callable[..., RunReport]) -> None:
    report = run("stopped-spot-interrupted", task_id="d" * 32)
    request = request_from_event(
        report.event,
        job="ml-features",
        root_task_arn=report.event.task.arn,
        attempt=2,
        of=3,
        network_configuration=None,
        reason="spot",
    )

    assert RetryRequest.from_json(request.to_json()) == request
    assert request.capacity_provider == "FARGATE_SPOT"
    assert len(request.client_token) == 64


def test_a_retry_request_with_unknown_fields_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        RetryRequest.from_json('{"job": "x", "surprise": 1}')


# ------------------------------------------------------------------ the network of later attempts

RULE_NETWORK = {
    "awsvpcConfiguration": {"subnets": ["subnet-0f1e2d3c4b5a69788"], "assignPublicIp": "DISABLED"}
}
NO_NETWORK_JOBS = parse_config(
    {
        "jobs": {
            "ml-features": {
                "match": {"family": "*"},
                "retry": {"attempts": 3, "evaluate_on_exit": [{"on_exit_code": "*", "action": "RETRY"}]},
            }
        }
    },
    "inline",
)


class RuleNetworks:
    """The EventBridge rule named by startedBy has a network; ecswatch's own startedBy names no rule."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []
        self.families: list[str] = []

    def network_for(
        self, region: str, started_by: str | None, task_definition_arn: str | None = None
    ) -> dict[str, Any] | None:
        self.asked.append(started_by)
        self.families.append((task_definition_arn or "").rsplit("/", 1)[-1])
        return RULE_NETWORK if (started_by or "").startswith("events-rule/") else None


def test_the_third_attempt_reuses_the_network_the_rule_gave_the_second(
    run: Callable[..., RunReport],
) -> None:
    networks = RuleNetworks()
    world = World(jobs=NO_NETWORK_JOBS, network=networks)
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32, startedBy="events-rule/features-nightly"))
    second = launched_id(world.launch_last())

    world.stop(run("stopped-nonzero-exit", task_id=second, startedBy="ecswatch-retry/2"))

    assert [r.network_configuration for r, _ in world.queue.requests] == [RULE_NETWORK, RULE_NETWORK]
    assert networks.asked == ["events-rule/features-nightly"]  # attempt 2's network came from lineage
    assert networks.families == ["invoice-export:12"]  # the rule's target that runs this family


# ------------------------------------------------------------------ a launch that keeps failing


def test_a_retry_that_cannot_be_launched_after_the_last_try_is_alerted_once(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    request, _ = world.queue.requests[-1]

    world.launcher.abandon(request, "Capacity is unavailable at this time.", 5)
    world.launcher.abandon(request, "Capacity is unavailable at this time.", 5)

    [news] = [a for _, a, _ in world.chat.posts if a.title.endswith("could not be launched")]
    assert news.title == "invoice-export retry 2/3 could not be launched"
    assert news.cause.startswith("Capacity is unavailable at this time. (gave up after 5 tries;")
    assert world.chat.updates[-1][1].title == "invoice-export gave up: retry 2/3 could not be launched"


def test_a_task_ecswatch_did_not_launch_is_a_first_attempt_without_a_lineage_read(
    run: Callable[..., RunReport],
) -> None:
    class CountingLineage(MemoryLineage):
        reads = 0

        def lineage_of(self, task_arn: str) -> Any:
            CountingLineage.reads += 1
            return super().lineage_of(task_arn)

    world = World(lineage=CountingLineage())

    result = world.stop(run("stopped-nonzero-exit", task_id="e" * 32))

    assert (result.attempt.number, CountingLineage.reads) == (1, 0)


# ------------------------------------------------------------------ one failing effect stops no other


def test_a_slack_refusal_does_not_hold_back_the_retry(world: World, run: Callable[..., RunReport]) -> None:
    def refused(*_: Any, **__: Any) -> MessageRef:
        raise DeliveryError("channel_not_found")

    world.chat.post = refused  # type: ignore[method-assign]

    with pytest.raises(DeliveryError):
        world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    assert len(world.queue.requests) == 1  # queued all the same; the redelivery re-tries only Slack


def test_a_failed_parent_update_is_repeated_but_the_reply_is_posted_once(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    second = launched_id(world.launch_last())
    update, failures = world.chat.update, [TransientError("slack 503")]

    def flaky_update(ref: MessageRef, alert: Alert) -> None:
        if failures:
            raise failures.pop()
        update(ref, alert)

    world.chat.update = flaky_update  # type: ignore[method-assign]
    recovered = run("stopped-nonzero-exit", task_id=second, exit_code=0, startedBy="ecswatch-retry/2")

    with pytest.raises(TransientError):
        world.stop(recovered)
    world.stop(recovered)  # the redelivery

    assert world.chat.replies().count("invoice-export recovered on attempt 2/3") == 1
    assert world.chat.updates[-1][1].title == "invoice-export recovered after 1 retry"


def test_a_started_retry_whose_thread_reply_fails_is_still_a_launch(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    def down(*_: Any, **__: Any) -> MessageRef:
        raise TransientError("slack 503")

    world.chat.post = down  # type: ignore[method-assign]

    result = world.launch_last()

    assert result is not None
    assert result.task_arn is not None
    assert world.launch_last() is None  # done: a redelivery neither runs it again nor gives it up


def test_a_retry_stopping_before_its_lineage_is_recorded_is_redelivered_not_taken_for_a_new_run(
    world: World, run: Callable[..., RunReport]
) -> None:
    with pytest.raises(TransientError, match=r"lineage .* is not recorded yet"):
        world.stop(run("stopped-nonzero-exit", task_id="f" * 32, startedBy="ecswatch-retry/2"))

    assert world.chat.posts == []
    assert world.queue.requests == []


def test_runtask_failing_for_now_is_a_launch_not_started(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    world.runner.answers = [TransientError("ThrottlingException")]

    with pytest.raises(LaunchNotStarted):
        world.launch_last()


def test_a_redelivered_retry_decision_names_the_delay_it_was_scheduled_with(
    run: Callable[..., RunReport],
) -> None:
    delays = []
    for _ in range(2):  # two containers, no injected generator: the jitter is drawn from the run's key
        world = World(jitter_seed=None)
        world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
        delays.append(world.queue.requests[0][1])

    assert delays[0] == delays[1]


def test_the_log_line_of_a_retry_names_the_job_its_lineage_says(run: Callable[..., RunReport]) -> None:
    seen: list[RunReport] = []

    class Sink:
        def publish(self, report: RunReport) -> None:
            seen.append(report)

    world = World(sinks=[Sink()])
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    second = launched_id(world.launch_last())
    retry = run("stopped-nonzero-exit", task_id=second, startedBy="ecswatch-retry/2")

    world.stop(replace(retry, job="invoice-export-family"))  # what its startedBy alone would give

    assert [report.job for report in seen] == ["invoice-export", "invoice-export"]


def test_the_retry_news_is_not_lost_when_the_first_alert_could_not_be_posted(
    world: World, run: Callable[..., RunReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 5: Slack refused the first alert, so the "retry scheduled" news found no thread
    and was dropped for good (its once-key done); the redelivery posted the alert, never the news."""
    report = run("stopped-nonzero-exit", task_id="a" * 32)
    post = world.chat.post
    refused: list[str] = []

    def refuse_first(
        channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        if not refused:
            refused.append(alert.title)
            raise TransientError("slack is down")
        return post(channel, alert, thread=thread, key=key)

    monkeypatch.setattr(world.chat, "post", refuse_first)

    with pytest.raises(TransientError):
        world.stop(report)
    world.stop(report)  # the redelivery

    titles = [alert.title for _, alert, _ in world.chat.posts]
    assert any(title.startswith("invoice-export: retry 2/3 scheduled in ") for title in titles)
    assert "invoice-export failed (attempt 1/3)" in titles
    assert len(world.queue.requests) == 1
