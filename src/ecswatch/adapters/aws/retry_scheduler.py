"""Deliver a retry request to the launcher later: SQS for up to 15 minutes, EventBridge Scheduler beyond.

SQS delays a message by at most 900 seconds (``DelaySeconds``). A longer backoff
becomes a one-time EventBridge Scheduler schedule (``at(...)`` in UTC) whose target
is the same queue, so the launcher reads every request the same way; the schedule
deletes itself once it has fired.

The schedule's name is derived from the request's key (root run and attempt), so a
redelivered event that schedules the same retry again meets ``ConflictException``
and gets the same name back instead of a second schedule.

Errors: throttling and 5xx are :class:`TransientError` (the event is redelivered);
a refusal that configuration must fix (unknown queue, missing permission, no
scheduler configured for a long delay) is a :class:`DeliveryError` naming the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.errors import DeliveryError, TransientError
from ecswatch.run import RetryRequest

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import TargetTypeDef
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)

#: SendMessage's largest DelaySeconds.
SQS_MAX_DELAY_SECONDS = 900
SCHEDULE_NAME_PREFIX = "ecswatch-retry-"
#: Hex digits of the key's hash in a schedule name (names allow 64 characters of [0-9a-zA-Z-_.]).
_NAME_HASH_LENGTH = 32

_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestThrottled",
        "KmsThrottled",
        "TooManyRequestsException",
        "InternalServerException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)
_NO_QUEUE = frozenset({"QueueDoesNotExist", "NonExistentQueue", "InvalidAddress"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "InvalidSecurity", "KmsAccessDenied"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RetryQueueScheduler:
    """Implements :class:`ecswatch.ports.RetryScheduler`. ``.sent`` and ``.scheduled`` count the API calls."""

    def __init__(
        self,
        sqs_client: SQSClient,
        queue_url: str,
        *,
        scheduler_client: EventBridgeSchedulerClient | None = None,
        scheduler_role_arn: str | None = None,
        queue_arn: str | None = None,
        dead_letter_arn: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._scheduler = scheduler_client
        self._role_arn = scheduler_role_arn
        self._queue_arn = queue_arn
        self._dead_letter_arn = dead_letter_arn
        self._clock = clock
        self.sent = 0
        self.scheduled = 0

    def schedule(self, request: RetryRequest, delay_seconds: int) -> str:
        """The SQS message id, or the schedule's name for a delay SQS cannot hold."""
        delay = max(0, int(delay_seconds))
        if delay <= SQS_MAX_DELAY_SECONDS:
            return self._send(request, delay)
        return self._create_schedule(request, delay)

    def delay_redelivery(self, receipt_handle: str, seconds: int) -> None:
        """Make a message that just failed come back after ``seconds`` instead of the queue's
        visibility timeout: the launcher's backoff between RunTask tries. Best effort: if SQS says
        no, the queue's own timeout applies and nothing is lost."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=max(0, min(int(seconds), 43_200)),
            )
        except (ClientError, BotoCoreError) as e:
            logger.warning(
                "could not set the retry's backoff; the queue's timeout applies", extra={"error": str(e)}
            )

    def _send(self, request: RetryRequest, delay: int) -> str:
        self.sent += 1
        try:
            response = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=request.to_json(),
                DelaySeconds=delay,
                MessageAttributes={
                    "job": {"DataType": "String", "StringValue": request.job},
                    "attempt": {"DataType": "Number", "StringValue": str(request.attempt)},
                },
            )
        except ClientError as e:
            raise _sqs_error(e, self._queue_url) from e
        except BotoCoreError as e:
            raise TransientError(f"SendMessage to {self._queue_url}: {e}") from e
        return str(response["MessageId"])

    def _create_schedule(self, request: RetryRequest, delay: int) -> str:
        scheduler, role_arn, queue_arn = self._scheduler_config(delay)
        name = schedule_name(request)
        self.scheduled += 1
        try:
            scheduler.create_schedule(
                Name=name,
                Description=f"ecswatch retry {request.attempt}/{request.of} of {request.job}"[:512],
                ScheduleExpression=at_expression(self._clock() + timedelta(seconds=delay)),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                Target=self._target(queue_arn, role_arn, request),
                ActionAfterCompletion="DELETE",
                # botocore would fill in a random token; the request's own makes a resent call a no-op.
                ClientToken=request.client_token,
            )
        except ClientError as e:
            if _codes(e) & {"ConflictException"}:
                logger.info("retry already scheduled", extra={"schedule": name, "key": request.key})
                return name
            raise _scheduler_error(e, name) from e
        except BotoCoreError as e:
            raise TransientError(f"CreateSchedule {name}: {e}") from e
        return name

    def _target(self, queue_arn: str, role_arn: str, request: RetryRequest) -> TargetTypeDef:
        """The retry queue; if Scheduler cannot deliver (a changed queue policy, a deleted role),
        the request goes to the retry DLQ instead of vanishing with the one-time schedule."""
        target: TargetTypeDef = {"Arn": queue_arn, "RoleArn": role_arn, "Input": request.to_json()}
        if self._dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self._dead_letter_arn}
        return target

    def _scheduler_config(self, delay: int) -> tuple[EventBridgeSchedulerClient, str, str]:
        missing = []
        if self._scheduler is None or not self._role_arn:
            missing.append("RETRY_SCHEDULER_ROLE_ARN")
        if not self._queue_arn:
            missing.append("RETRY_QUEUE_ARN")
        if self._scheduler is None or not self._role_arn or not self._queue_arn:
            raise DeliveryError(
                f"a retry in {delay} s is longer than SQS can delay ({SQS_MAX_DELAY_SECONDS} s) and needs "
                f"EventBridge Scheduler: set {' and '.join(missing)}"
            )
        return self._scheduler, self._role_arn, self._queue_arn


def schedule_name(request: RetryRequest) -> str:
    """The same name for the same root run and attempt, whoever schedules it."""
    digest = hashlib.sha256(request.key.encode()).hexdigest()[:_NAME_HASH_LENGTH]
    return f"{SCHEDULE_NAME_PREFIX}{digest}"


def at_expression(moment: datetime) -> str:
    """A one-time schedule's expression, to the second, in UTC (naive datetimes are taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"at({aware.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


def _codes(error: ClientError) -> set[str]:
    """SQS's JSON protocol names an error twice (``AWS.SimpleQueueService.NonExistentQueue`` and
    ``QueryErrorCode: QueueDoesNotExist``); both are matched, without the namespace."""
    err = error.response.get("Error", {})
    raw = {str(err.get("Code") or ""), str(err.get("QueryErrorCode") or "")} - {""}
    return {code.rsplit(".", 1)[-1] for code in raw}


def _is_transient(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return bool(_codes(error) & _TRANSIENT_CODES) or status >= 500 or status == 429


def _describe(error: ClientError) -> str:
    err = error.response.get("Error", {})
    code, message = str(err.get("Code") or "?"), str(err.get("Message") or "")
    return f"{code}: {message}" if message else code


def _sqs_error(error: ClientError, queue_url: str) -> Exception:
    codes = _codes(error)
    what = f"SendMessage to {queue_url}: {_describe(error)}"
    if _is_transient(error):
        return TransientError(what)
    if codes & _NO_QUEUE:
        return DeliveryError(f"{what}; check RETRY_QUEUE_URL")
    if codes & _DENIED or any(code.startswith("Kms") for code in codes):
        return DeliveryError(f"{what}; grant sqs:SendMessage (and the queue's KMS key, if encrypted)")
    return DeliveryError(what)


def _scheduler_error(error: ClientError, name: str) -> Exception:
    codes = _codes(error)
    what = f"CreateSchedule {name}: {_describe(error)}"
    if _is_transient(error):
        return TransientError(what)
    if codes & _DENIED:
        return DeliveryError(
            f"{what}; grant scheduler:CreateSchedule and iam:PassRole on RETRY_SCHEDULER_ROLE_ARN"
        )
    if codes & {"ValidationException"}:
        return DeliveryError(f"{what}; check RETRY_SCHEDULER_ROLE_ARN and RETRY_QUEUE_ARN")
    return DeliveryError(what)
