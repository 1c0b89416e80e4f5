"""Dependency chains: B runs after A succeeded (on_success), C after A failed (on_failure), each once.

The coordinators run as in test_retries: recording fakes for the retry queue, RunTask, Slack and
Datadog, the in-memory guard and lineage. The jobs are those of the chain example in the shipped
jobs.yaml, shaped like the sample events (their family, cluster and exit codes rewritten):

    extract --on_success--> load (3 attempts, exit 2 retried, any other stop final) --on_success--> report
       \\--on_failure--> cleanup

A chain request travels through the retry queue to the launcher exactly like a retry; the tests
hand each queued request to ``Launcher.launch`` as the retry launcher function would.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from ecswatch.adapters.aws.ecs_runner import run_task_parameters
from ecswatch.adapters.dynamodb.idempotency import MemoryOnceGuard
from ecswatch.adapters.dynamodb.state import DynamoNotificationState, MemoryLineage
from ecswatch.analysis.failed_launch import FailedLaunch, process_launch_event
from ecswatch.config.loader import parse_config
from ecswatch.config.model import ConfigError, JobsConfig
from ecswatch.config.routing import Routing
from ecswatch.config.settings import BUNDLED_JOBS_CONFIG, Settings
from ecswatch.coordinators.roles import wire_roles
from ecswatch.coordinators.shared import RunResult
from ecswatch.errors import TransientError
from ecswatch.notifications.notifier import Notifier
from ecswatch.run import DatadogEvent, LaunchResult, Lineage, MessageRef, MetricPoint, RetryRequest, RunReport
from tests.fakes import (
    MemoryThreads,
    RecordingChat,
    RecordingQueue,
    RecordingRunner,
    create_state_table_from_template,
    report_from,
)

ACCOUNT = "123456789012"
ARN_PREFIX = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/batch/"
SUBNET = "subnet-0a1f3c5e7b9d24680"

CHAIN_CONFIG = f"""
jobs:
  extract:
    match: {{family: extract, cluster: batch}}
    notify_on_success: true
    on_success: [load]
    on_failure: [cleanup]
  load:
    match: {{family: load, cluster: batch}}
    retry:
      attempts: 3
      evaluate_on_exit: [{{on_exit_code: "2", action: RETRY}}, {{on_reason: "*", action: EXIT}}]
      backoff: {{base_seconds: 60, max_seconds: 60, jitter: none}}
    on_success: [report]
    launch: {{task_definition: load, cluster: batch, launch_type: FARGATE, platform_version: "1.4.0"}}
    network: {{subnets: [{SUBNET}]}}
  report:
    match: {{family: report, cluster: batch}}
    launch:
      task_definition: "report:4"
      cluster: batch
      group: nightly
      capacity_provider_strategy:
        - {{capacity_provider: FARGATE_SPOT, weight: 3}}
        - {{capacity_provider: FARGATE, base: 1}}
      container_overrides: {{report: {{command: [report, --since, 1d], environment: {{FORMAT: pdf}}}}}}
      propagate_tags: NONE
    network: {{subnets: [{SUBNET}], assign_public_ip: true}}
  cleanup:
    match: {{family: cleanup, cluster: batch}}
    launch: {{task_definition: cleanup, cluster: batch, launch_type: EC2}}
"""
JOBS = parse_config(yaml.safe_load(CHAIN_CONFIG), "chains.yaml")


# --------------------------------------------------------------------------- fakes


class CountingGuard(MemoryOnceGuard):
    """The in-memory guard, keeping every key it is asked for (each a DynamoDB write in production)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def once(self, key: str, action: Callable[[], None]) -> bool:
        self.asked.append(key)
        return super().once(key, action)


class Datadog:
    def __init__(self) -> None:
        self.events: list[DatadogEvent] = []
        self.points: list[MetricPoint] = []

    def send_event(self, event: DatadogEvent) -> None:
        self.events.append(event)

    def add_points(self, points: list[MetricPoint]) -> None:
        self.points.extend(points)

    def flush(self) -> int:
        return 0

    def tags_of(self, job: str) -> list[tuple[str, ...]]:
        return [event.tags for event in self.events if f"job:{job}" in event.tags]


class World:
    def __init__(self, jobs: JobsConfig = JOBS) -> None:
        self.chat, self.queue, self.datadog = RecordingChat(), RecordingQueue(), Datadog()
        self.runner = RecordingRunner(lambda request, n: f"{ARN_PREFIX}{request.job}{n}")
        self.lineage = MemoryLineage()
        self.guard = guard = CountingGuard()
        self.notifier = Notifier(
            guard=guard,
            routing=lambda job: Routing(
                channel=f"#{job}",
                notify_success=jobs.job(job) is not None and jobs.routing(job).notify_success,
            ),
            chat=self.chat,
            events=self.datadog,
            state=MemoryThreads(),  # type: ignore[arg-type]
            storm_window_seconds=0,
        )
        roles = wire_roles(
            notifier=self.notifier,
            guard=guard,
            lineage=self.lineage,
            jobs=jobs,
            queue=self.queue,
            runner=self.runner,
            rng=random.Random(7),
        )
        self.runs, self.launches, self.launcher = roles.runs, roles.launches, roles.launcher

    def stop(self, report: RunReport) -> RunResult:
        return self.runs.handle(report)

    def launch(self, job: str) -> str:
        """The launcher takes the newest queued request for ``job``; the new task's id."""
        request = next(r for r, _ in reversed(self.queue.requests) if r.job == job)
        result = self.launcher.launch(request)
        assert result is not None
        assert result.task_arn is not None
        return result.task_arn.rsplit("/", 1)[-1]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def run(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., RunReport]:
    """A stop (or start) of ``job``'s task ``task_id``: a sample event with family and exit code rewritten."""

    def make(
        job: str,
        task_id: str,
        *,
        exit_code: int = 0,
        started_by: str = "events-rule/nightly",
        sample: str = "stopped-success",
    ) -> RunReport:
        raw = copy.deepcopy(load_event(sample))
        detail = raw["detail"]
        detail["taskArn"] = ARN_PREFIX + task_id
        detail["taskDefinitionArn"] = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/{job}:1"
        detail["group"] = f"family:{job}"
        detail["startedBy"] = started_by
        if detail["lastStatus"] == "STOPPED":
            detail["containers"][-1]["exitCode"] = exit_code
        return report_from(raw, jobs=JOBS)

    return make


def task_arn(task_id: str) -> str:
    return ARN_PREFIX + task_id


# --------------------------------------------------------------------------- a three-job chain


def test_a_chain_runs_through_a_retry_in_the_middle_and_starts_each_job_once(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    failed = world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))
    assert failed.decision is not None
    assert failed.decision.retries
    load2 = world.launch("load")
    world.stop(run("load", load2, started_by="ecswatch-retry/2"))
    report1 = world.launch("report")

    last = world.stop(run("report", report1, started_by="ecswatch-chain/load"))

    assert [(r.job, r.trigger, r.attempt) for r in world.runner.runs] == [
        ("load", "chain", 1),
        ("load", "policy", 2),
        ("report", "chain", 1),
    ]
    assert last.attempt.chain is not None
    assert last.attempt.chain.chain_id == "extract1"
    assert last.attempt.chain.triggered_by == task_arn(load2)
    assert world.queue.jobs() == ["load", "load", "report"]


def test_a_failure_that_will_be_retried_starts_nothing_yet(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")

    result = world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))

    assert result.attempt.chain is not None
    assert result.attempt.chain.starts == ()
    assert world.queue.jobs() == ["load", "load"]  # the chain's launch, then load's own retry


def test_a_retry_of_a_chained_run_stays_in_the_chain(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))
    load2 = world.launch("load")

    assert world.lineage.lineage_of(task_arn(load2)) == Lineage(
        root_task_arn=task_arn(load1),
        attempt=2,
        of=3,
        job="load",
        network={"awsvpcConfiguration": {"subnets": [SUBNET], "assignPublicIp": "DISABLED"}},
        chain_id="extract1",
        triggered_by=task_arn("extract1"),
        triggered_by_job="extract",
    )


def test_a_chained_run_is_attempt_1_of_its_own_run_in_the_chain_of_the_run_that_started_it(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))

    load1 = world.launch("load")

    lineage = world.lineage.lineage_of(task_arn(load1))
    assert lineage is not None
    assert (lineage.root_task_arn, lineage.attempt, lineage.of, lineage.job) == (
        task_arn(load1),
        1,
        3,
        "load",
    )
    assert (lineage.chain_id, lineage.triggered_by, lineage.triggered_by_job) == (
        "extract1",
        task_arn("extract1"),
        "extract",
    )


# --------------------------------------------------------------------------- failure stops the chain


def test_a_failure_stops_the_chain_and_starts_the_clean_up_job(
    world: World, run: Callable[..., RunReport]
) -> None:
    result = world.stop(run("extract", "extract1", exit_code=1))

    assert result.attempt.chain is not None
    assert result.attempt.chain.starts == ("cleanup",)
    assert world.queue.jobs() == ["cleanup"]
    world.launch("cleanup")
    [request] = world.runner.runs
    assert (request.job, request.launch_type, request.network_configuration) == ("cleanup", "EC2", None)


def test_a_chained_job_that_fails_for_good_does_not_start_the_next(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")

    world.stop(run("load", load1, exit_code=1, started_by="ecswatch-chain/extract"))  # exit 1 is not retried

    assert world.queue.jobs() == ["load"]


def test_the_launch_waits_in_no_queue_delay(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("extract", "extract1"))

    assert [delay for _, delay in world.queue.requests] == [0]


# --------------------------------------------------------------------------- exactly once


def test_duplicate_stopped_events_start_the_next_job_once(
    world: World, run: Callable[..., RunReport]
) -> None:
    report = run("extract", "extract1")

    world.stop(report)
    world.stop(report)
    world.stop(report)

    assert world.queue.jobs() == ["load"]
    assert world.chat.replies() == ["extract succeeded: starting load"]


def test_a_duplicate_chain_request_starts_one_task(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("extract", "extract1"))
    [(request, _)] = world.queue.requests

    first = world.launcher.launch(request)
    second = world.launcher.launch(RetryRequest.from_json(request.to_json()))

    assert first is not None
    assert second is None
    assert len(world.runner.runs) == 1


def test_without_the_guard_both_launches_carry_one_runtask_token(run: Callable[..., RunReport]) -> None:
    """Two containers that both lost their guard records still ask ECS with the same clientToken."""
    one, other = World(), World()
    report = run("extract", "extract1")

    one.stop(report)
    other.stop(report)

    [(first, _)], [(second, _)] = one.queue.requests, other.queue.requests
    assert first.key == second.key == f"chain#{task_arn('extract1')}#load"
    assert run_task_parameters(first)["clientToken"] == run_task_parameters(second)["clientToken"]


def test_a_retried_run_that_succeeds_starts_the_next_job_once_keyed_on_its_root(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))
    load2 = world.launch("load")

    world.stop(run("load", load2, started_by="ecswatch-retry/2"))
    world.stop(run("load", load2, started_by="ecswatch-retry/2"))

    [(request, _)] = [(r, d) for r, d in world.queue.requests if r.job == "report"]
    assert request.key == f"chain#{task_arn(load1)}#report"
    assert request.previous_task_arn == request.triggered_by == task_arn(load2)


def test_a_late_duplicate_of_an_earlier_attempt_neither_retries_nor_chains_again(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    first_failure = run("load", load1, exit_code=2, started_by="ecswatch-chain/extract")
    world.stop(first_failure)
    load2 = world.launch("load")
    world.stop(run("load", load2, started_by="ecswatch-retry/2"))
    world.launch("report")

    world.stop(first_failure)  # redelivered after all of that

    assert world.queue.jobs() == ["load", "load", "report"]
    assert [r.job for r in world.runner.runs] == ["load", "load", "report"]


def test_a_running_event_that_arrives_after_the_stop_starts_nothing(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))

    world.stop(run("extract", "extract1", sample="running-fargate"))

    assert world.queue.jobs() == ["load"]


# --------------------------------------------------------------------------- what RunTask is asked


def test_a_chain_launch_carries_the_jobs_own_launch_section_and_network(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, started_by="ecswatch-chain/extract"))
    [(request, _)] = [(r, d) for r, d in world.queue.requests if r.job == "report"]

    params = run_task_parameters(request)

    assert params["taskDefinition"] == "report:4"
    assert params["cluster"] == "batch"
    assert params["group"] == "nightly"
    assert params["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    assert "launchType" not in params
    assert params["overrides"] == {
        "containerOverrides": [
            {
                "name": "report",
                "command": ["report", "--since", "1d"],
                "environment": [{"name": "FORMAT", "value": "pdf"}],
            }
        ]
    }
    assert params["networkConfiguration"] == {
        "awsvpcConfiguration": {"subnets": [SUBNET], "assignPublicIp": "ENABLED"}
    }
    assert params["propagateTags"] == "NONE"
    assert params["startedBy"] == "ecswatch-chain/load"
    assert {"key": "ecswatch:chain", "value": "extract1"} in params["tags"]
    assert {"key": "ecswatch:triggered-by", "value": load1} in params["tags"]


def test_a_fargate_chain_launch_keeps_its_platform_version(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    [(request, _)] = world.queue.requests

    params = run_task_parameters(request)

    assert (params["launchType"], params["platformVersion"]) == ("FARGATE", "1.4.0")


def test_a_chain_request_survives_its_trip_through_the_queue(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, started_by="ecswatch-chain/extract"))
    [request] = [r for r, _ in world.queue.requests if r.job == "report"]

    assert RetryRequest.from_json(request.to_json()) == request


def test_a_chain_launch_ecs_refuses_is_told_in_the_triggering_runs_thread(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    world.runner.answers = [LaunchResult(failure="ClientException: TaskDefinition is inactive")]
    [(request, _)] = world.queue.requests

    result = world.launcher.launch(request)

    assert result == LaunchResult(failure="ClientException: TaskDefinition is inactive")
    _, news, thread = world.chat.posts[-1]
    assert thread is not None
    assert thread.channel == "#extract"
    assert news.title == "load could not be started after extract"
    assert news.cause == "ClientException: TaskDefinition is inactive"
    assert world.chat.updates == []  # extract's own alert still says it succeeded


def test_a_chain_launch_the_launcher_abandons_is_alerted_once_without_touching_the_parent(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    [(request, _)] = world.queue.requests

    world.launcher.abandon(request, "RESOURCE:MEMORY", 5)
    world.launcher.abandon(request, "RESOURCE:MEMORY", 5)

    abandoned = [alert for _, alert, _ in world.chat.posts if alert.cause.startswith("RESOURCE:MEMORY")]
    assert [alert.title for alert in abandoned] == ["load could not be started after extract"]
    assert world.chat.updates == []


# --------------------------------------------------------------------------- what people see


def test_the_triggering_runs_thread_says_which_jobs_it_started(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))

    [(_, alert, no_thread), (_, reply, thread)] = world.chat.posts
    assert no_thread is None
    assert alert.title == "extract succeeded"
    assert ("Starts", "load") in alert.fields
    assert thread == MessageRef(channel="#extract", ts="1.1")
    assert reply.title == "extract succeeded: starting load"
    assert ("Chain", "extract1") in reply.fields


def test_a_chained_runs_alert_links_back_to_the_run_that_triggered_it(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")

    world.stop(run("load", load1, exit_code=1, started_by="ecswatch-chain/extract"))

    [alert] = world.chat.alerts("load")
    assert ("Triggered by", "extract (task extract1)") in alert.fields
    [link] = [link for link in alert.links if link.label == "Triggered by extract"]
    assert link.url == (
        "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/batch/tasks/extract1/configuration"
        "?region=eu-west-1"
    )


def test_every_datadog_event_of_the_chain_carries_its_chain_id(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))
    load2 = world.launch("load")
    world.stop(run("load", load2, started_by="ecswatch-retry/2"))
    report1 = world.launch("report")
    world.stop(run("report", report1, started_by="ecswatch-chain/load"))

    tagged = {job: [tags for tags in world.datadog.tags_of(job)] for job in ("extract", "load", "report")}
    assert [len(events) for events in tagged.values()] == [1, 2, 1]
    assert all("chain_id:extract1" in tags for events in tagged.values() for tags in events)
    assert all("triggered_by:extract" in tags for tags in tagged["load"])
    assert all("triggered_by:load" in tags for tags in tagged["report"])


def test_the_chain_id_stays_off_metrics_where_it_would_make_a_series_per_chain(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, started_by="ecswatch-chain/extract"))

    assert world.datadog.points
    assert not [tag for point in world.datadog.points for tag in point.tags if tag.startswith("chain_id:")]
    load_points = [point for point in world.datadog.points if "job:load" in point.tags]
    assert load_points
    assert all("triggered_by:extract" in point.tags for point in load_points)


def test_a_run_in_no_chain_is_reported_as_before(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("cleanup", "cleanup1", exit_code=1))

    [event] = world.datadog.events
    assert not [tag for tag in event.tags if tag.startswith(("chain_id:", "triggered_by:"))]
    [alert] = world.chat.alerts("cleanup")
    assert not [label for label, _ in alert.fields if label in {"Triggered by", "Starts"}]


# ----------------------------------------------------------------------- runs that end with no task stopping


def retried_config() -> JobsConfig:
    """The chain config with extract retried (exit 2, 3 attempts) and load cleaned up after too."""
    config = yaml.safe_load(CHAIN_CONFIG)
    config["jobs"]["extract"]["retry"] = {
        "attempts": 3,
        "evaluate_on_exit": [{"on_exit_code": "2", "action": "RETRY"}],
        "backoff": {"base_seconds": 60, "max_seconds": 60, "jitter": "none"},
    }
    config["jobs"]["load"]["on_failure"] = ["cleanup"]
    return parse_config(config, "chains.yaml")


RETRIED = retried_config()
REFUSED = LaunchResult(failure="ClientException: TaskDefinition is inactive")


@pytest.fixture
def failed_launch(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., FailedLaunch]:
    """A CloudTrail RunTask failure (a sample record) as a launch of ``job`` by its nightly rule."""

    def make(job: str, *, sample: str = "cloudtrail-runtask-invalid-parameter") -> FailedLaunch:
        raw = copy.deepcopy(load_event(sample))
        request = raw["detail"]["requestParameters"]
        request["taskDefinition"] = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/{job}:3"
        request["startedBy"] = f"events-rule/{job}-nightly"
        result = process_launch_event(raw, settings=Settings(), jobs=JOBS)
        assert isinstance(result, FailedLaunch), result
        return result

    return make


def queued(world: World, job: str) -> RetryRequest:
    """The newest request the retry queue holds for ``job``."""
    return next(request for request, _ in reversed(world.queue.requests) if request.job == job)


def test_a_failed_launch_that_is_not_retried_starts_the_clean_up_job_once(
    world: World, failed_launch: Callable[..., FailedLaunch]
) -> None:
    launch = failed_launch("extract")
    assert not launch.retryable

    world.launches.handle(launch)
    world.launches.handle(launch)  # CloudTrail's record, delivered twice

    [(request, delay)] = world.queue.requests  # cleanup only: load (on_success) never
    assert (request.job, request.trigger, delay) == ("cleanup", "chain", 0)
    assert request.key == f"chain#{launch.run_id}#cleanup"
    assert (request.chain_id, request.triggered_by, request.triggered_by_job) == (
        launch.run_id,
        launch.run_id,
        "extract",
    )
    assert world.chat.replies() == ["extract failed: starting cleanup"]


def test_the_job_a_failed_launch_started_names_that_launch_as_its_trigger(
    world: World, failed_launch: Callable[..., FailedLaunch], run: Callable[..., RunReport]
) -> None:
    launch = failed_launch("extract")
    world.launches.handle(launch)
    cleanup1 = world.launch("cleanup")

    world.stop(run("cleanup", cleanup1, exit_code=1, started_by="ecswatch-chain/extract"))

    [alert] = world.chat.alerts("cleanup")
    assert ("Triggered by", f"extract ({launch.run_id})") in alert.fields  # no task to link to
    assert not [link for link in alert.links if link.label.startswith("Triggered by")]
    [tags] = world.datadog.tags_of("cleanup")
    assert f"chain_id:{launch.run_id}" in tags


def test_a_failed_launch_that_will_be_retried_starts_nothing_yet(
    failed_launch: Callable[..., FailedLaunch],
) -> None:
    world = World(RETRIED)

    world.launches.handle(failed_launch("extract", sample="cloudtrail-runtask-capacity-failure"))

    assert [(request.job, request.attempt) for request, _ in world.queue.requests] == [("extract", 2)]


def test_a_failed_launch_whose_retry_ecs_refuses_starts_the_clean_up_in_a_chain_named_after_it(
    failed_launch: Callable[..., FailedLaunch],
) -> None:
    world = World(RETRIED)
    launch = failed_launch("extract", sample="cloudtrail-runtask-capacity-failure")
    world.launches.handle(launch)
    world.runner.answers = [REFUSED]

    world.launcher.launch(queued(world, "extract"))

    assert world.queue.jobs() == ["extract", "cleanup"]
    cleanup = queued(world, "cleanup")
    assert (cleanup.key, cleanup.chain_id) == (f"chain#{launch.run_id}#cleanup", launch.run_id)


def test_a_retry_ecs_refuses_ends_the_run_and_starts_the_clean_up_job_once(
    run: Callable[..., RunReport],
) -> None:
    world = World(RETRIED)
    world.stop(run("extract", "extract1", exit_code=2))
    retry = queued(world, "extract")
    world.runner.answers = [REFUSED]

    world.launcher.launch(retry)
    world.launcher.launch(RetryRequest.from_json(retry.to_json()))

    assert world.queue.jobs() == ["extract", "cleanup"]
    cleanup = queued(world, "cleanup")
    assert cleanup.key == f"chain#{task_arn('extract1')}#cleanup"
    assert (cleanup.chain_id, cleanup.triggered_by, cleanup.triggered_by_job) == (
        "extract1",
        task_arn("extract1"),
        "extract",
    )
    assert world.chat.replies()[-2:] == [
        "extract retry 2/3 could not be launched",
        "extract failed: starting cleanup",
    ]
    assert world.chat.updates[-1][1].title == "extract gave up: retry 2/3 could not be launched"


def test_a_refused_retry_whose_clean_up_cannot_be_queued_yet_tells_the_thread_once(
    run: Callable[..., RunReport],
) -> None:
    world = World(RETRIED)
    world.stop(run("extract", "extract1", exit_code=2))
    retry = queued(world, "extract")
    world.runner.answers = [REFUSED, REFUSED]  # RunTask's token gives the same answer again
    schedule, failures = world.queue.schedule, [TransientError("SQS 503")]

    def flaky(request: RetryRequest, delay_seconds: int) -> str:
        if failures:
            raise failures.pop()
        return schedule(request, delay_seconds)

    world.queue.schedule = flaky  # type: ignore[method-assign]

    with pytest.raises(TransientError):
        world.launcher.launch(retry)
    world.launcher.launch(retry)  # the redelivery

    assert world.chat.replies().count("extract retry 2/3 could not be launched") == 1
    assert world.queue.jobs()[-1] == "cleanup"


def test_a_refused_retry_of_a_chained_job_starts_its_clean_up_in_the_same_chain(
    run: Callable[..., RunReport],
) -> None:
    world = World(RETRIED)
    world.stop(run("extract", "extract1"))
    load1 = world.launch("load")
    world.stop(run("load", load1, exit_code=2, started_by="ecswatch-chain/extract"))
    world.runner.answers = [REFUSED]

    world.launcher.launch(queued(world, "load"))

    assert world.queue.jobs() == ["load", "load", "cleanup"]
    cleanup = queued(world, "cleanup")
    assert cleanup.key == f"chain#{task_arn(load1)}#cleanup"
    assert (cleanup.chain_id, cleanup.triggered_by, cleanup.triggered_by_job) == (
        "extract1",
        task_arn(load1),
        "load",
    )


def test_an_abandoned_retry_starts_the_clean_up_job_once(run: Callable[..., RunReport]) -> None:
    world = World(RETRIED)
    world.stop(run("extract", "extract1", exit_code=2))
    retry = queued(world, "extract")

    world.launcher.abandon(retry, "RESOURCE:MEMORY", 5)
    world.launcher.abandon(retry, "RESOURCE:MEMORY", 5)

    assert world.queue.jobs() == ["extract", "cleanup"]
    assert queued(world, "cleanup").key == f"chain#{task_arn('extract1')}#cleanup"
    assert world.chat.replies().count("extract failed: starting cleanup") == 1


def test_a_chain_launch_ecs_refuses_starts_nothing_further(run: Callable[..., RunReport]) -> None:
    """load never ran, so its on_failure (cleanup) has no run to follow."""
    world = World(RETRIED)
    world.stop(run("extract", "extract1"))
    world.runner.answers = [REFUSED]

    world.launcher.launch(queued(world, "load"))

    assert world.queue.jobs() == ["load"]
    assert not [title for title in world.chat.replies() if "starting cleanup" in title]


def test_a_chain_launch_the_launcher_abandons_starts_nothing_further(run: Callable[..., RunReport]) -> None:
    world = World(RETRIED)
    world.stop(run("extract", "extract1"))

    world.launcher.abandon(queued(world, "load"), "RESOURCE:MEMORY", 5)

    assert world.queue.jobs() == ["load"]
    assert not [title for title in world.chat.replies() if "starting cleanup" in title]


def test_a_failed_launch_of_a_job_that_starts_nothing_costs_no_chain_guard_write(
    world: World, failed_launch: Callable[..., FailedLaunch]
) -> None:
    world.launches.handle(failed_launch("cleanup"))

    assert world.queue.requests == []
    assert world.guard.asked
    assert not [key for key in world.guard.asked if key.startswith(("chain#", "chain-news#"))]


# --------------------------------------------------------------------------- lineage in DynamoDB


@pytest.mark.offline
@mock_aws
def test_the_state_table_keeps_a_chained_runs_lineage() -> None:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_state_table_from_template(client, "ecswatch-state")
    state = DynamoNotificationState(client, "ecswatch-state")
    chained = Lineage(
        task_arn("load1"),
        1,
        3,
        "load",
        chain_id="extract1",
        triggered_by=task_arn("extract1"),
        triggered_by_job="extract",
    )
    plain = Lineage(task_arn("x1"), 2, 3, "x")

    state.record_lineage(task_arn("load1"), chained)
    state.record_lineage(task_arn("x2"), plain)

    assert state.lineage_of(task_arn("load1")) == chained
    assert state.lineage_of(task_arn("x2")) == plain


# --------------------------------------------------------------------------- config


def problems(jobs: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config({"jobs": jobs}, "jobs.yaml")
    return list(raised.value.problems)


def job(family: str, **more: Any) -> dict[str, Any]:
    launch = {"task_definition": family, "cluster": "batch", "launch_type": "EC2"}
    return {"match": {"family": family, "cluster": "batch"}, "launch": launch, **more}


def test_a_cyclic_chain_is_rejected_with_the_cycle_spelled_out() -> None:
    found = problems(
        {"a": job("a", on_success=["b"]), "b": job("b", on_success=["c"]), "c": job("c", on_failure=["a"])}
    )

    assert found == [
        "jobs.yaml: jobs.a.on_success: chain cycle a -> b -> c -> a: each run would start the next one "
        "forever; remove one of these links"
    ]


def test_a_job_that_starts_itself_is_a_cycle() -> None:
    assert problems({"a": job("a", on_failure=["a"])}) == [
        "jobs.yaml: jobs.a.on_failure: chain cycle a -> a: each run would start the next one forever; "
        "remove one of these links"
    ]


def test_an_unknown_chain_target_is_rejected_with_the_nearest_name() -> None:
    assert problems({"extract": job("extract", on_success=["laod"]), "load": job("load")}) == [
        "jobs.yaml: jobs.extract.on_success[0]: no job named 'laod' (did you mean 'load'?)"
    ]


def test_a_chain_target_without_a_launch_section_is_rejected() -> None:
    found = problems({"a": job("a", on_success=["b"]), "b": {"match": {"family": "b"}}})

    assert found == [
        "jobs.yaml: jobs.b.launch: is required: jobs.a.on_success starts b, and RunTask needs at least "
        "launch.task_definition and launch.cluster"
    ]


def test_a_fargate_chain_target_without_a_network_is_rejected() -> None:
    fargate = {"task_definition": "b", "cluster": "batch", "launch_type": "FARGATE"}

    found = problems({"a": job("a", on_failure=["b"]), "b": {"match": {"family": "b"}, "launch": fargate}})

    assert found == [
        "jobs.yaml: jobs.b.network: is required: jobs.a.on_failure starts b on Fargate, and RunTask needs "
        "its subnets (awsvpc)"
    ]


def test_a_launch_section_needs_its_task_definition_and_cluster_and_one_way_to_place() -> None:
    launch = {
        "launch_type": "FARGATE",
        "capacity_provider_strategy": [{"capacity_provider": "FARGATE"}],
        "propagate_tags": "SERVICE",
    }

    found = problems({"a": {"match": {"family": "a"}, "launch": launch, "network": {"subnets": [SUBNET]}}})

    assert found == [
        "jobs.yaml: jobs.a.launch.task_definition: is required",
        "jobs.yaml: jobs.a.launch.cluster: is required",
        "jobs.yaml: jobs.a.launch.propagate_tags: must be one of TASK_DEFINITION, NONE, not 'SERVICE'",
        "jobs.yaml: jobs.a.launch.capacity_provider_strategy: give launch_type or "
        "capacity_provider_strategy, not both (RunTask refuses both)",
    ]


def test_a_launch_of_another_family_than_the_job_matches_is_rejected() -> None:
    found = problems({"a": job("a") | {"launch": {"task_definition": "b:3", "cluster": "batch"}}})

    assert found == [
        "jobs.yaml: jobs.a.launch.task_definition: family 'b' does not match match.family 'a': the runs it "
        "starts would not be recognised as a"
    ]


def test_a_chain_names_each_job_once_by_name() -> None:
    found = problems({"a": job("a", on_success=["b", "b", 3]), "b": job("b")})

    assert found == [
        "jobs.yaml: jobs.a.on_success[1]: 'b' is listed twice",
        "jobs.yaml: jobs.a.on_success[2]: must be a job name, not 3",
    ]


def test_the_chain_example_in_the_shipped_config_is_valid() -> None:
    """The commented example in jobs.yaml, uncommented, loads: the documentation cannot rot."""
    text = Path(BUNDLED_JOBS_CONFIG).read_text(encoding="utf-8")
    block = re.search(r"#   --- chain example ---\n(.*?)#   --- end of chain example ---", text, re.DOTALL)
    assert block is not None
    example = "\n".join(line.removeprefix("# ") for line in block.group(1).splitlines())

    config = parse_config({"jobs": yaml.safe_load(example)}, "example")

    assert [(j.name, j.on_success, j.on_failure) for j in config.jobs] == [
        ("orders-extract", ("orders-load",), ("orders-cleanup",)),
        ("orders-load", ("orders-report",), ()),
        ("orders-report", (), ()),
        ("orders-cleanup", (), ()),
    ]
