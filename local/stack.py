"""The whole offline stack in one context manager: moto (seeded), state, secrets, fake Slack and Datadog.

It sets the same environment variables the SAM template sets in production,
pointing at local endpoints, so the handler builds its real adapters.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    ThreadedMotoServer,
    create_backend_app,
)
from werkzeug.serving import make_server

from local.aws import moto_server, seed_all
from local.fake_datadog import FakeDatadog
from local.fake_slack import FakeSlack

STATE_TABLE = "ecswatch-state"
RETRY_QUEUE = "ecswatch-retries"
SLACK_TOKEN = "xoxb-000000000000-0000000000000-demodemodemodemodemodemo"  # noqa: S105 (a fake for the fake)
SLACK_TOKEN_PARAMETER = "ssm:/ecswatch/slack-bot-token"  # noqa: S105 (a parameter name)
DATADOG_KEY = "0123456789abcdef0123456789abcdef"
DATADOG_KEY_PARAMETER = "secretsmanager:ecswatch/datadog"


@dataclass
class Stack:
    aws_endpoint: str
    slack: FakeSlack
    datadog: FakeDatadog
    #: The retry queue's URL when the stack was made with ``retries=True``.
    retry_queue_url: str = ""


def create_state_table(name: str = STATE_TABLE) -> None:
    """The table as template.yaml declares it: pk/sk, gsi1, TTL on expires_at."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": key, "AttributeType": "S"} for key in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def store_secrets() -> None:
    boto3.client("ssm").put_parameter(
        Name=SLACK_TOKEN_PARAMETER.removeprefix("ssm:"), Value=SLACK_TOKEN, Type="SecureString"
    )
    boto3.client("secretsmanager").create_secret(
        Name=DATADOG_KEY_PARAMETER.removeprefix("secretsmanager:"),
        SecretString=json.dumps({"api_key": DATADOG_KEY}),
    )


def create_retry_queue(name: str = RETRY_QUEUE) -> tuple[str, str]:
    """The retry queue the task-events function sends retry requests to; its URL and ARN."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


class SerializedMotoServer(ThreadedMotoServer):
    """moto with one DynamoDB request at a time, as DynamoDB applies each request atomically.

    moto evaluates a conditional write as a read, then a write, without a lock: two concurrent
    requests (handler processes running at once) can both pass a condition only one of them would
    pass in AWS. Serializing DynamoDB requests in the server restores the service's semantics; the
    other services are left concurrent.
    """

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
                with lock:
                    return list(app(environ, start_response))
            return app(environ, start_response)  # type: ignore[no-any-return]

        self._server = make_server(
            self._ip_address,
            self._port,
            serialized,
            True,
            request_handler=MotoRequestHandler,  # type: ignore[arg-type]
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def offline_stack(*, seed: bool = True, retries: bool = False, serialized: bool = False) -> Iterator[Stack]:
    """``retries=True`` also creates the retry queue and sets RETRY_QUEUE_URL, so failures that the
    job config retries are queued for the retry launcher (off by default: most tests want alerts only).
    ``serialized=True``: DynamoDB requests are applied one at a time (:class:`SerializedMotoServer`),
    for several handler processes at once (:func:`handlers_at_once`)."""
    slack = FakeSlack(valid_tokens={SLACK_TOKEN})
    datadog = FakeDatadog(api_keys={DATADOG_KEY})
    env = {
        "STATE_TABLE_NAME": STATE_TABLE,
        "SLACK_TOKEN_PARAMETER": SLACK_TOKEN_PARAMETER,
        "DATADOG_API_KEY_PARAMETER": DATADOG_KEY_PARAMETER,
        "SLACK_DEFAULT_CHANNEL": "#batch-alerts",
        "POWERTOOLS_SERVICE_NAME": "ecswatch",
        "POWERTOOLS_METRICS_NAMESPACE": "ecswatch",
    }
    server = SerializedMotoServer if serialized else ThreadedMotoServer
    with moto_server(server) as endpoint, slack.running(), datadog.running():
        saved = {
            k: os.environ.get(k)
            for k in (*env, "SLACK_API_URL", "DATADOG_API_URL", "RETRY_QUEUE_URL", "RETRY_QUEUE_ARN")
        }
        os.environ.update(env)
        os.environ["SLACK_API_URL"] = slack.url + "/api/"
        os.environ["DATADOG_API_URL"] = datadog.url
        try:
            if seed:
                seed_all()
            create_state_table()
            store_secrets()
            queue_url = ""
            if retries:
                queue_url, queue_arn = create_retry_queue()
                os.environ["RETRY_QUEUE_URL"], os.environ["RETRY_QUEUE_ARN"] = queue_url, queue_arn
            yield Stack(aws_endpoint=endpoint, slack=slack, datadog=datadog, retry_queue_url=queue_url)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def handlers_at_once(batches: list[dict[str, Any]], *, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Each SQS batch to the task-events handler in its own process, all released at once.

    As SQS feeds several Lambda instances: each process is a cold container of its own (imports,
    clients, caches) against this process's stack (the environment is inherited). Each builds its
    dependencies first, then all wait at a barrier, so the invocations overlap. Returns each
    handler's answer (its batchItemFailures), in the order of ``batches``.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(batches))
    answers = context.Queue()
    workers = [
        context.Process(target=_handler_process, args=(i, batch, barrier, answers), daemon=True)
        for i, batch in enumerate(batches)
    ]
    for worker in workers:
        worker.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        for _ in workers:
            index, answer = answers.get(timeout=timeout)
            results[index] = answer
    finally:
        for worker in workers:
            worker.join(timeout=10)
    return [results[i] for i in range(len(batches))]


def _handler_process(index: int, batch: dict[str, Any], barrier: Any, answers: Any) -> None:
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- the handler's JSON logs, for the process's life
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError  # noqa: PLC0415

    from ecswatch.handlers import task_events  # noqa: PLC0415 -- imported in the new process
    from local.lambda_runtime import LambdaContext  # noqa: PLC0415

    try:
        task_events.dependencies()
        barrier.wait(timeout=60)
        answer = dict(task_events.lambda_handler(batch, LambdaContext()))
    except BatchProcessingError:  # every record failed: for SQS, every record comes back
        answer = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in batch["Records"]]}
    except Exception as e:
        answer = {"error": repr(e)}
    answers.put((index, answer))
