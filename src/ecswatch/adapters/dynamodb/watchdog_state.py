"""The watchdog's memory between invocations: since when each scheduled job is watched, and which
missed run is still open. DynamoDB in the state table, and an in-memory twin for local runs.

One item per scheduled job, all under one partition key, so one Query reads them all:

==============  ================  ==========================================================
pk              sk                what
==============  ================  ==========================================================
``WATCHDOG``    ``JOB#<job>``     ``watched_since`` (ISO), ``missed`` (ISO, while a missed
                                  run is open)
==============  ================  ==========================================================

Writes are conditional, so two overlapping invocations agree: the first ``start_watching`` wins,
a second missed run does not replace the open one, and closing names the run it closes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.adapters.aws.reads import error_code
from ecswatch.errors import TransientError
from ecswatch.run import ScheduleWatch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PK = "WATCHDOG"
_CONDITION_FAILED = "ConditionalCheckFailedException"
#: Attribute names go through placeholders: no reserved word can break an expression.
_NAMES = {"#missed": "missed", "#since": "watched_since", "#job": "job"}


class DynamoWatchdogState:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def schedule_watches(self) -> Mapping[str, ScheduleWatch]:
        watches: dict[str, ScheduleWatch] = {}
        start: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :job)",
                "ExpressionAttributeValues": {":pk": {"S": PK}, ":job": {"S": "JOB#"}},
                "ConsistentRead": True,
            }
            if start:
                params["ExclusiveStartKey"] = start
            page = _call(self._db.query, **params)
            for item in page.get("Items", []):
                watch = _watch(item)
                watches[watch.job] = watch
            start = page.get("LastEvaluatedKey")
            if not start:
                return watches

    def start_watching(self, job: str, now: datetime) -> ScheduleWatch:
        try:
            _call(
                self._db.put_item,
                TableName=self._table,
                Item={**_key(job), "job": {"S": job}, "watched_since": {"S": now.isoformat()}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as e:
            if error_code(e) != _CONDITION_FAILED:
                raise
            item = _call(self._db.get_item, TableName=self._table, Key=_key(job), ConsistentRead=True)["Item"]
            return _watch(item)
        return ScheduleWatch(job=job, watched_since=now)

    def open_miss(self, job: str, expected: datetime) -> None:
        self._conditional_update(
            job,
            "SET #missed = :e, #since = if_not_exists(#since, :e), #job = :job",
            "attribute_not_exists(#missed)",
            {":e": {"S": expected.isoformat()}, ":job": {"S": job}},
        )

    def close_miss(self, job: str, expected: datetime) -> None:
        self._conditional_update(job, "REMOVE #missed", "#missed = :e", {":e": {"S": expected.isoformat()}})

    def _conditional_update(self, job: str, update: str, condition: str, values: dict[str, Any]) -> None:
        try:
            _call(
                self._db.update_item,
                TableName=self._table,
                Key=_key(job),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    name: attribute for name, attribute in _NAMES.items() if name in f"{update} {condition}"
                },
                ExpressionAttributeValues=values,
            )
        except ClientError as e:
            if error_code(e) != _CONDITION_FAILED:
                raise  # pragma: no cover - _call turns the others into TransientError


class MemoryWatchdogState:
    """Per-container only: for local runs and tests, with the same rules as the table."""

    def __init__(self) -> None:
        self._watches: dict[str, ScheduleWatch] = {}
        self._lock = threading.Lock()

    def schedule_watches(self) -> Mapping[str, ScheduleWatch]:
        with self._lock:
            return dict(self._watches)

    def start_watching(self, job: str, now: datetime) -> ScheduleWatch:
        with self._lock:
            return self._watches.setdefault(job, ScheduleWatch(job=job, watched_since=now))

    def open_miss(self, job: str, expected: datetime) -> None:
        with self._lock:
            watch = self._watches.get(job) or ScheduleWatch(job=job, watched_since=expected)
            if watch.missed is None:
                self._watches[job] = ScheduleWatch(
                    job=job, watched_since=watch.watched_since, missed=expected
                )

    def close_miss(self, job: str, expected: datetime) -> None:
        with self._lock:
            watch = self._watches.get(job)
            if watch is not None and watch.missed == expected:
                self._watches[job] = ScheduleWatch(job=job, watched_since=watch.watched_since)


def _key(job: str) -> dict[str, Any]:
    return {"pk": {"S": PK}, "sk": {"S": f"JOB#{job}"}}


def _watch(item: Mapping[str, Any]) -> ScheduleWatch:
    missed = item.get("missed", {}).get("S")
    return ScheduleWatch(
        job=str(item["job"]["S"]),
        watched_since=datetime.fromisoformat(item["watched_since"]["S"]),
        missed=datetime.fromisoformat(missed) if missed else None,
    )


def _call(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """ConditionalCheckFailed is a ClientError the callers read; other failures are transient."""
    try:
        return operation(**kwargs)
    except ClientError as e:
        if error_code(e) == _CONDITION_FAILED:
            raise
        raise TransientError(f"DynamoDB {getattr(operation, '__name__', 'call')}: {error_code(e)}") from e
    except BotoCoreError as e:
        raise TransientError(f"DynamoDB {getattr(operation, '__name__', 'call')}: {e}") from e
