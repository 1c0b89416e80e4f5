"""Specification of ``ecswatch.handlers.retry_launcher``: a RunTask that keeps failing for a passing reason
(no capacity, throttling) is tried again later and later, and on the queue's last receive the run's
thread says the retry could not be launched before the request goes to the dead-letter queue.

The coordinators are the ones of test_retries (recording fakes for RunTask, the queue and Slack).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ecswatch.adapters.aws.ecs_runner import EcsTaskRunner, RuleNetworkDiscovery
from ecswatch.adapters.aws.retry_scheduler import RetryQueueScheduler
from ecswatch.budget import Budget
from ecswatch.config.settings import Settings
from ecswatch.errors import TransientError
from ecswatch.events.task import MalformedEvent
from ecswatch.handlers import retry_launcher
from ecswatch.run import RunReport
from local.aws import FAKE_CREDENTIALS
from local.lambda_runtime import LambdaContext, sqs_record
from tests.adapters.test_adapters_retry import OVERRIDES, REGION, ecs_target, fargate_setup, put_rule
from tests.retries.test_retries import World, report_maker

pytestmark = [
    pytest.mark.offline,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]
CAPACITY = TransientError("RunTask: Capacity is unavailable at this time. Please try again later")


class Backoff:
    def __init__(self) -> None:
        self.delays: list[tuple[str, int]] = []

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None:
        self.delays.append((receipt_handle, seconds))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(retry_launcher.metrics, "namespace", "ecswatch")
    world = World()
    backoff = Backoff()
    deps = SimpleNamespace(
        settings=Settings(retry_max_receives=5),
        launcher=world.launcher,
        notifier=world.notifier,
        retry_queue=backoff,
        budget=Budget(),
    )
    monkeypatch.setattr(retry_launcher, "dependencies", lambda: deps)
    world.backoff = backoff  # type: ignore[attr-defined]
    return world


@pytest.fixture
def run(load_event: Callable[[str], dict[str, Any]]) -> Callable[..., RunReport]:
    return report_maker(load_event)


def deliver(world: World, *, receive_count: int) -> dict[str, Any]:
    request, _ = world.queue.requests[-1]
    record = sqs_record(request.to_json(), message_id="m-1", receive_count=receive_count)
    return dict(retry_launcher.lambda_handler({"Records": [record]}, LambdaContext()))


def deliver_failing(world: World, *, receive_count: int) -> None:
    """The request is reported as a batch item failure: SQS keeps it (and dead-letters it at the end),
    without the invocation failing, since a backoff is expected, not an error of the function."""
    assert deliver(world, receive_count=receive_count) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def failed_once(world: World, run: Callable[..., RunReport]) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    world.runner.answers = [CAPACITY]


def test_a_launch_that_fails_for_now_comes_back_later_each_time(
    world: World, run: Callable[..., RunReport]
) -> None:
    failed_once(world, run)

    deliver_failing(world, receive_count=3)

    [(_, seconds)] = world.backoff.delays  # type: ignore[attr-defined]
    assert seconds == 120
    assert not [a for _, a, _ in world.chat.posts if a.title.endswith("could not be launched")]


def test_on_the_last_receive_the_thread_says_the_retry_could_not_be_launched(
    world: World, run: Callable[..., RunReport]
) -> None:
    failed_once(world, run)

    deliver_failing(world, receive_count=5)  # on to the DLQ, not lost

    [news] = [a for _, a, _ in world.chat.posts if a.title.endswith("could not be launched")]
    assert "Capacity is unavailable" in news.cause
    assert world.backoff.delays == []  # type: ignore[attr-defined]


def test_a_launch_that_succeeds_on_a_later_receive_is_not_reported_as_failed(
    world: World, run: Callable[..., RunReport]
) -> None:
    failed_once(world, run)
    deliver_failing(world, receive_count=1)

    response = deliver(world, receive_count=2)

    assert response == {"batchItemFailures": []}
    assert world.chat.replies()[-1] == "invoice-export attempt 2/3 started"


class ShortContext(LambdaContext):
    """An invocation with 20 s left: less than a record may need (RECORD_SECONDS)."""

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def test_a_request_is_not_started_without_the_time_to_finish_it(
    world: World, run: Callable[..., RunReport]
) -> None:
    """An invocation that runs into its timeout reports no partial failures: every request of the
    batch, launched ones included, would come back. So a request is handed back unstarted."""
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    request, _ = world.queue.requests[-1]
    record = sqs_record(request.to_json(), message_id="m-1")

    response = retry_launcher.lambda_handler({"Records": [record]}, ShortContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert world.runner.runs == []


def test_a_batch_whose_every_request_fails_for_now_returns_its_failures_without_an_error(
    world: World, run: Callable[..., RunReport]
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))
    world.stop(run("stopped-nonzero-exit", task_id="b" * 32))
    world.runner.answers = [CAPACITY, CAPACITY]
    records = [
        sqs_record(request.to_json(), message_id=f"m-{i}")
        for i, (request, _) in enumerate(world.queue.requests)
    ]

    response = retry_launcher.lambda_handler({"Records": records}, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}
    assert len(world.runner.runs) == 2


@pytest.mark.parametrize(("tries", "seconds"), [(1, 30), (2, 60), (4, 240), (6, 900), (20, 900)])
def test_the_backoff_doubles_from_thirty_seconds_up_to_fifteen_minutes(tries: int, seconds: int) -> None:
    assert retry_launcher.redelivery_delay(tries) == seconds


@mock_aws
def test_delaying_redelivery_hides_the_message_for_that_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    url = sqs.create_queue(QueueName="retries", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]

    RetryQueueScheduler(sqs, url).delay_redelivery(message["ReceiptHandle"], 600)

    assert "Messages" not in sqs.receive_message(QueueUrl=url)


# ------------------------------------------------------------------ manual retry, end to end on moto


@pytest.fixture
def moto_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The coordinators of test_retries, launching with the real RunTask adapter against moto."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(retry_launcher.metrics, "namespace", "ecswatch")
    with mock_aws():
        runner = EcsTaskRunner(lambda region: boto3.client("ecs", region_name=region))
        world = World(
            runner=runner,
            tasks=runner,
            network=RuleNetworkDiscovery(lambda region: boto3.client("events", region_name=region)),
        )
        deps = SimpleNamespace(
            settings=Settings(),
            launcher=world.launcher,
            notifier=world.notifier,
            retry_queue=None,
            budget=Budget(),
        )
        monkeypatch.setattr(retry_launcher, "dependencies", lambda: deps)
        yield world


def run_scheduled_task(task_definition: str, network: dict[str, Any]) -> str:
    """A task as the rule nightly-report-0200 starts it."""
    task: dict[str, Any] = boto3.client("ecs", region_name=REGION).run_task(
        cluster="batch",
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration=network,
        startedBy="events-rule/nightly-report-0200",
        overrides=OVERRIDES,
    )["tasks"][0]
    return str(task["taskArn"])


def test_a_manual_retry_starts_the_task_again_with_its_parameters(moto_world: World) -> None:
    task_definition, network = fargate_setup()
    awsvpc = network["awsvpcConfiguration"]
    rule_network = {
        "awsvpcConfiguration": {"Subnets": awsvpc["subnets"], "SecurityGroups": awsvpc["securityGroups"]}
    }
    put_rule("nightly-report-0200", ecs_target("report", task_definition, rule_network))
    original = run_scheduled_task(task_definition, network)

    answer = retry_launcher.lambda_handler({"retry_task_arn": original}, LambdaContext())

    assert answer["result"] == "launched", answer
    ecs = boto3.client("ecs", region_name=REGION)
    [again] = ecs.describe_tasks(cluster="batch", tasks=[answer["task_arn"]])["tasks"]
    assert again["startedBy"] == "ecswatch-retry/2"
    assert again["taskDefinitionArn"] == task_definition
    assert again["overrides"]["containerOverrides"][0] == OVERRIDES["containerOverrides"][0]
    assert moto_world.queue.requests == []  # a manual retry is launched now, not queued
    lineage = moto_world.lineage.lineage_of(answer["task_arn"])
    assert lineage is not None
    assert (lineage.root_task_arn, lineage.attempt) == (original, 2)  # its stop reports as attempt 2


def test_a_manual_retry_of_a_task_ecs_no_longer_knows_is_a_clear_error(moto_world: World) -> None:
    fargate_setup()
    gone = f"arn:aws:ecs:{REGION}:123456789012:task/batch/0123456789abcdef0123456789abcdef"

    with pytest.raises(MalformedEvent, match="no such task"):
        retry_launcher.lambda_handler({"retry_task_arn": gone}, LambdaContext())


def test_a_manual_retry_without_a_network_to_reuse_is_refused_with_ecss_reason(moto_world: World) -> None:
    task_definition, network = fargate_setup()
    original = run_scheduled_task(task_definition, network)  # no rule names its subnets any more

    answer = retry_launcher.lambda_handler({"retry_task_arn": original}, LambdaContext())

    assert answer["result"] == "refused"
    assert "Network Configuration must be provided" in answer["failure"]


def test_a_started_retry_is_never_called_could_not_be_launched_on_the_last_receive(
    world: World, run: Callable[..., RunReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.stop(run("stopped-nonzero-exit", task_id="a" * 32))

    def table_down(*_: Any) -> None:
        raise TransientError("DynamoDB PutItem: ProvisionedThroughputExceededException")

    monkeypatch.setattr(world.lineage, "record_lineage", table_down)

    deliver_failing(world, receive_count=5)  # RunTask started the task; recording it failed

    assert not [a for _, a, _ in world.chat.posts if a.title.endswith("could not be launched")]


@pytest.mark.parametrize("arn", ["abc", "arn:aws:ecs:eu-west-1:123456789012:cluster/batch"])
def test_a_manual_retry_of_something_not_a_task_arn_is_a_clear_error(moto_world: World, arn: str) -> None:
    with pytest.raises(MalformedEvent, match=r"not a(n| task) ARN"):
        retry_launcher.lambda_handler({"retry_task_arn": arn}, LambdaContext())
