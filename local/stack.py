"""The whole offline stack in one context manager: moto (seeded), state, secrets, fake Slack and Datadog.

It sets the same environment variables the SAM template sets in production,
pointing at local endpoints, so the handler builds its real adapters.
"""

from __future__ import annotations

import io
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
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
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
class _DynamoDBFault:
    operation: str
    contains: str
    code: str
    status: int
    times: int


class DynamoDBFaults:
    """DynamoDB's errors on demand, answered by :class:`SerializedMotoServer` instead of moto.

    ``fail("UpdateItem", contains='"COMPLETED"', times=50)``: the next 50 UpdateItem requests whose
    body contains that text are refused with ``code`` (HTTP ``status``), as DynamoDB refuses a
    throttled or failing write; other requests go through. One switch per process, as moto's
    backends are (the server runs in this process)."""

    def __init__(self) -> None:
        self._faults: list[_DynamoDBFault] = []
        self._lock = threading.Lock()
        #: How many requests were refused since the last :meth:`clear`.
        self.refused = 0

    def fail(
        self,
        operation: str,
        *,
        contains: str = "",
        code: str = "ProvisionedThroughputExceededException",
        status: int = 400,
        times: int = 1,
    ) -> None:
        with self._lock:
            self._faults.append(_DynamoDBFault(operation, contains, code, status, times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.refused = 0

    def armed(self, operation: str) -> bool:
        with self._lock:
            return any(f.operation == operation for f in self._faults)

    def take(self, operation: str, body: bytes) -> _DynamoDBFault | None:
        """The fault that answers this request, if any (and one use of it)."""
        text = body.decode("utf-8", "replace")
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation and fault.contains in text:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    self.refused += 1
                    return fault
        return None


#: The process's DynamoDB fault switch (used by :class:`SerializedMotoServer`; ``Stack.dynamodb``).
DYNAMODB_FAULTS = DynamoDBFaults()


@dataclass
class Stack:
    aws_endpoint: str
    slack: FakeSlack
    datadog: FakeDatadog
    #: The retry queue's URL when the stack was made with ``retries=True``.
    retry_queue_url: str = ""
    #: DynamoDB faults on demand; only a ``serialized=True`` stack applies them.
    dynamodb: DynamoDBFaults = DYNAMODB_FAULTS


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
    other services are left concurrent. It also answers the faults armed on
    :data:`DYNAMODB_FAULTS` (a throttled write, an internal error) before moto sees the request.
    """

    def _server_entry(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            if target.startswith("DynamoDB_"):
                refused = _injected_fault(target.partition(".")[2], environ, start_response)
                if refused is not None:
                    return refused
                with lock:
                    return list(app(environ, start_response))
            return app(environ, start_response)  # type: ignore[no-any-return]

        self._server = make_server(
            self._ip_address,
            self._port,
            serialized,
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _injected_fault(
    operation: str, environ: dict[str, Any], start_response: Callable[..., Any]
) -> list[bytes] | None:
    """DynamoDB's error answer when a fault is armed for this request; the body is put back for moto."""
    if not DYNAMODB_FAULTS.armed(operation):
        return None
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    fault = DYNAMODB_FAULTS.take(operation, body)
    if fault is None:
        return None
    answer = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{fault.code}", "message": "injected by local.stack"}
    ).encode()
    start_response(
        f"{fault.status} Injected",
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(answer)))],
    )
    return [answer]


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
    DYNAMODB_FAULTS.clear()
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
            DYNAMODB_FAULTS.clear()
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
    return [answers[0] for answers in invocations_at_once([[batch] for batch in batches], timeout=timeout)]


def invocations_at_once(
    invocations: list[list[dict[str, Any]]], *, timeout: float = 120.0
) -> list[list[dict[str, Any]]]:
    """Several containers at once, each invoked with its own SQS batches one after the other.

    ``invocations[i]`` are the batches container ``i`` receives in turn (a warm container after
    the first), as a burst larger than one batch reaches several Lambda instances. The processes
    build their dependencies, wait at a barrier, then run their invocations; returns each
    container's answers in order (``{"error": ...}`` in place of an answer that raised).
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(invocations))
    answers = context.Queue()
    workers = [
        context.Process(target=_handler_process, args=(i, batches, barrier, answers), daemon=True)
        for i, batches in enumerate(invocations)
    ]
    for worker in workers:
        worker.start()
    results: dict[int, list[dict[str, Any]]] = {}
    try:
        for _ in workers:
            index, answer = answers.get(timeout=timeout)
            results[index] = answer
    finally:
        for worker in workers:
            worker.join(timeout=10)
    return [results[i] for i in range(len(invocations))]


def _handler_process(index: int, batches: list[dict[str, Any]], barrier: Any, answers: Any) -> None:
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- the handler's JSON logs, for the process's life
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError  # noqa: PLC0415

    from ecswatch.handlers import task_events  # noqa: PLC0415 -- imported in the new process
    from local.lambda_runtime import LambdaContext  # noqa: PLC0415

    done: list[dict[str, Any]] = []
    try:
        task_events.dependencies()
        barrier.wait(timeout=60)
    except Exception as e:
        answers.put((index, [{"error": repr(e)} for _ in batches]))
        return
    for batch in batches:
        try:
            answer = dict(task_events.lambda_handler(batch, LambdaContext()))
        except BatchProcessingError:  # every record failed: for SQS, every record comes back
            answer = {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in batch["Records"]]}
        except Exception as e:
            answer = {"error": repr(e)}
        done.append(answer)
    answers.put((index, done))
