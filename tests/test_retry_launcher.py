"""Specification of ``handlers.retry_launcher``: a RunTask that keeps failing for a passing reason
(no capacity, throttling) is tried again later and later, and on the queue's last receive the run's
thread says the retry could not be launched before the request goes to the dead-letter queue.

The coordinator is the one of test_retries (recording fakes for RunTask, the queue and Slack).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from common.adapters.retry_scheduler import RetryQueueScheduler
from common.pipeline import RunReport
from common.ports import TransientError
from common.settings import Settings
from handlers import retry_launcher
from local.lambda_runtime import LambdaContext, sqs_record
from tests.test_retries import World, report_maker

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
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
        coordinator=world.coordinator,
        notifier=world.notifier,
        retry_queue=backoff,
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
    """A batch whose every item failed makes the invocation fail (Powertools), so SQS keeps it all."""
    with pytest.raises(BatchProcessingError, match="All records failed"):
        deliver(world, receive_count=receive_count)


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
