"""boto3 behind the ports: task definitions and log tails.

Clients are made by the caller once per container (see ``common.container``)
and passed in, so tests put moto in place before any client exists. AWS errors
are translated here: "gone" and "not allowed" become notes the run report can
carry; throttling and 5xx become :class:`TransientError` so SQS redelivers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.errors import TransientError
from ecswatch.events.taskdef import TaskDefinition, parse_task_definition
from ecswatch.run import LogTail

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_logs import CloudWatchLogsClient

logger = Logger(child=True)

_NOT_FOUND = frozenset({"ResourceNotFoundException", "ClientException", "InvalidParameterException"})
_DENIED = frozenset(
    {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "UnrecognizedClientException"}
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class EcsTaskDefinitions:
    """DescribeTaskDefinition, cached per ARN for the container's lifetime: revisions are immutable.

    A definition that is gone or unreadable is cached as None too, so a burst of
    events for a deleted revision costs one call, not one per event.
    """

    def __init__(self, client_for_region: Callable[[str], ECSClient]) -> None:
        self._client_for_region = client_for_region
        self._cache: dict[str, TaskDefinition | None] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def get(self, task_definition_arn: str) -> TaskDefinition | None:
        with self._lock:
            if task_definition_arn in self._cache:
                return self._cache[task_definition_arn]
        found = self._describe(task_definition_arn)
        with self._lock:
            self._cache[task_definition_arn] = found
        return found

    def _describe(self, arn: str) -> TaskDefinition | None:
        region = arn.split(":")[3]
        self.calls += 1
        try:
            response = self._client_for_region(region).describe_task_definition(taskDefinition=arn)
        except ClientError as e:
            code = error_code(e)
            if code in _NOT_FOUND or code in _DENIED:
                logger.warning(
                    "task definition unavailable; analysing with what the event says",
                    extra={"task_definition_arn": arn, "error_code": code, "error": str(e)},
                )
                return None
            raise TransientError(f"DescribeTaskDefinition {arn}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"DescribeTaskDefinition {arn}: {e}") from e
        return parse_task_definition(dict(response["taskDefinition"]))


class CloudWatchLogReader:
    """GetLogEvents from the end of a stream. Missing streams and denied access are notes, not failures."""

    def __init__(self, client_for_region: Callable[[str], CloudWatchLogsClient]) -> None:
        self._client_for_region = client_for_region
        self.calls = 0

    def tail(self, region: str, group: str, stream: str, lines: int) -> LogTail:
        self.calls += 1
        try:
            response = self._client_for_region(region).get_log_events(
                logGroupName=group,
                logStreamName=stream,
                limit=max(1, min(lines, 10_000)),
                startFromHead=False,
            )
        except ClientError as e:
            code = error_code(e)
            if code == "ResourceNotFoundException":
                return LogTail(note=f"log stream {group} / {stream} not found (expired, or never written)")
            if code in _DENIED:
                return LogTail(note=f"not allowed to read {group} ({code}); grant logs:GetLogEvents")
            raise TransientError(f"GetLogEvents {group}/{stream}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"GetLogEvents {group}/{stream}: {e}") from e
        events: list[Any] = list(response.get("events", []))
        if not events:
            return LogTail(note="the log stream is empty")
        return LogTail(lines=tuple(str(ev.get("message", "")).rstrip("\n") for ev in events))
