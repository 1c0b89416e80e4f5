"""DynamoDB state: storm windows and Slack threads, with conditional writes; idempotency via Powertools.

One table (``STATE_TABLE_NAME``), keys ``pk``/``sk``, TTL on ``expires_at``:

=========================  ==========  ==============================================
pk                         sk          what
=========================  ==========  ==============================================
``STORM#<job>``            ``CURRENT``  the job's failure window: count, members, causes,
                                        who posts, the Slack message
``RUN#<task arn>``         ``THREAD``   the Slack message (thread) of a run
``RUN#<task arn>``         ``LINEAGE``  root run, attempt number and job of a retried task;
                                        chain id and triggering run of a chained one
``IDEMPOTENCY``            <key hash>   Powertools Idempotency records (per sink, per report)
``JOB#<job>``              ``RUN#<started ISO ms>#<run id>``
                                        run history, one item per run (ecswatch.adapters.dynamodb.history);
                                        gsi1pk ``RUNID#<task id or run id>`` finds a run by id
``WATCHDOG``               ``JOB#<job>``  since when the watchdog watches a scheduled job, and
                                        its open missed run (ecswatch.adapters.dynamodb.watchdog_state)
=========================  ==========  ==============================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.errors import TransientError
from ecswatch.run import Lineage, MessageRef, StormJoin

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: How many distinct run keys a storm remembers for de-duplication (item size stays well under 400 KB).
MEMBER_LIMIT = 1000
#: How long a claim to post a storm message holds before another run may take over (the claimant died).
POST_LEASE_SECONDS = 120
CAUSES_KEPT = 5
THREAD_TTL_SECONDS = 14 * 86_400
LINEAGE_TTL_SECONDS = 30 * 86_400


class DynamoNotificationState:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    # ---------------------------------------------------------------- storms

    def join_storm(self, job: str, run_key: str, cause: str, now: datetime, window_seconds: int) -> StormJoin:
        """Join the job's open window, or open a new one when it is over; a run joins at most once."""
        epoch = int(now.timestamp())
        cutoff = epoch - window_seconds
        for _ in range(3):  # the window may be replaced concurrently; a few tries settle it
            joined = self._try_join(job, run_key, cause, cutoff, window_seconds)
            if joined is not None:
                return joined
            opened = self._try_open(job, run_key, cause, epoch=epoch, cutoff=cutoff, window=window_seconds)
            if opened is not None:
                return opened
        raise TransientError(f"storm window of {job} kept changing; retry")

    def _try_join(self, job: str, run_key: str, cause: str, cutoff: int, window: int) -> StormJoin | None:
        values = {":one": {"N": "1"}, ":cutoff": {"N": str(cutoff)}, ":last": {"S": _cause(cause)}}
        try:
            item = self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_storm_key(job),
                UpdateExpression="ADD #count :one, members :me, causes :cause SET last_cause = :last",
                ConditionExpression=(
                    "window_start > :cutoff AND NOT contains(members, :run) AND size(members) < :limit"
                ),
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={
                    **values,
                    ":me": {"SS": [run_key]},
                    ":run": {"S": run_key},
                    ":cause": {"SS": [_cause(cause)]},
                    ":limit": {"N": str(MEMBER_LIMIT)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
            return _storm(job, item, is_new_member=True)
        except ClientError as e:
            if _code(e) != "ConditionalCheckFailedException":
                raise TransientError(f"DynamoDB UpdateItem storm {job}: {_code(e)}") from e
        current = self._get(_storm_key(job))
        if not current or int(current["window_start"]["N"]) <= cutoff:
            return None  # no window, or it is over
        if run_key in current.get("members", {}).get("SS", []):
            return _storm(job, current, is_new_member=False)  # already a member: a redelivery
        # A huge storm: stop remembering members (the item stays small); just count.
        item = self._call(
            self._db.update_item,
            TableName=self._table,
            Key=_storm_key(job),
            UpdateExpression="ADD #count :one SET last_cause = :last",
            ConditionExpression="window_start > :cutoff",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _storm(job, item, is_new_member=True)

    def _try_open(
        self, job: str, run_key: str, cause: str, *, epoch: int, cutoff: int, window: int
    ) -> StormJoin | None:
        item = {
            **_storm_key(job),
            "window_start": {"N": str(epoch)},
            "count": {"N": "1"},
            "members": {"SS": [run_key]},
            "causes": {"SS": [_cause(cause)]},
            "last_cause": {"S": _cause(cause)},
            "updated_at_count": {"N": "0"},
            "expires_at": {"N": str(epoch + window + 86_400)},
        }
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR window_start <= :cutoff",
                ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}},
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return None  # someone opened it first: join theirs
            raise TransientError(f"DynamoDB PutItem storm {job}: {_code(e)}") from e
        return _storm(job, item, is_new_member=True)

    def claim_storm_post(self, job: str, window_start: datetime, run_key: str, now: datetime) -> bool:
        epoch = int(now.timestamp())
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_storm_key(job),
                UpdateExpression="SET poster = :me, poster_until = :until",
                ConditionExpression=(
                    "window_start = :ws AND attribute_not_exists(ts) AND "
                    "(attribute_not_exists(poster) OR poster = :me OR poster_until < :now)"
                ),
                ExpressionAttributeValues={
                    ":me": {"S": run_key},
                    ":until": {"N": str(epoch + POST_LEASE_SECONDS)},
                    ":now": {"N": str(epoch)},
                    ":ws": {"N": str(int(window_start.timestamp()))},
                },
            )
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                return False
            raise TransientError(f"DynamoDB claim storm {job}: {_code(e)}") from e
        return True

    def set_storm_message(self, job: str, window_start: datetime, ref: MessageRef) -> StormJoin:
        item = self._call(
            self._db.update_item,
            TableName=self._table,
            Key=_storm_key(job),
            UpdateExpression="SET channel = :c, ts = :ts",
            ConditionExpression="window_start = :ws",
            ExpressionAttributeValues={
                ":c": {"S": ref.channel},
                ":ts": {"S": ref.ts},
                ":ws": {"N": str(int(window_start.timestamp()))},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _storm(job, item, is_new_member=False)

    def mark_storm_updated(self, job: str, window_start: datetime, count: int) -> None:
        try:
            self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_storm_key(job),
                UpdateExpression="SET updated_at_count = :n",
                ConditionExpression="window_start = :ws AND updated_at_count < :n",
                ExpressionAttributeValues={
                    ":n": {"N": str(count)},
                    ":ws": {"N": str(int(window_start.timestamp()))},
                },
            )
        except ClientError as e:
            if _code(e) != "ConditionalCheckFailedException":
                raise TransientError(f"DynamoDB mark storm {job}: {_code(e)}") from e

    # ---------------------------------------------------------------- threads

    def thread_for(self, run_key: str) -> MessageRef | None:
        item = self._get({"pk": {"S": f"RUN#{run_key}"}, "sk": {"S": "THREAD"}})
        if not item:
            return None
        own = item.get("own", {}).get("BOOL", True)
        return MessageRef(channel=item["channel"]["S"], ts=item["ts"]["S"], own=own)

    def save_thread(self, run_key: str, ref: MessageRef) -> None:
        self._call(
            self._db.put_item,
            TableName=self._table,
            Item={
                "pk": {"S": f"RUN#{run_key}"},
                "sk": {"S": "THREAD"},
                "channel": {"S": ref.channel},
                "ts": {"S": ref.ts},
                "own": {"BOOL": ref.own},
                "expires_at": {"N": str(int(time.time()) + THREAD_TTL_SECONDS)},
            },
        )

    # ---------------------------------------------------------------- lineage

    def lineage_of(self, task_arn: str) -> Lineage | None:
        item = self._get({"pk": {"S": f"RUN#{task_arn}"}, "sk": {"S": "LINEAGE"}})
        if not item:
            return None
        return Lineage(
            root_task_arn=item["root"]["S"],
            attempt=int(item["attempt"]["N"]),
            of=int(item["of"]["N"]),
            job=item["job"]["S"],
            network=json.loads(item["network"]["S"]) if "network" in item else None,
            chain_id=_optional_text(item, "chain_id"),
            triggered_by=_optional_text(item, "triggered_by"),
            triggered_by_job=_optional_text(item, "triggered_by_job"),
        )

    def record_lineage(self, task_arn: str, lineage: Lineage) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"RUN#{task_arn}"},
            "sk": {"S": "LINEAGE"},
            "root": {"S": lineage.root_task_arn},
            "attempt": {"N": str(lineage.attempt)},
            "of": {"N": str(lineage.of)},
            "job": {"S": lineage.job},
            "expires_at": {"N": str(int(time.time()) + LINEAGE_TTL_SECONDS)},
        }
        if lineage.network is not None:
            item["network"] = {"S": json.dumps(lineage.network, sort_keys=True)}
        item.update(_chain_item(lineage))
        self._call(self._db.put_item, TableName=self._table, Item=item)

    # ---------------------------------------------------------------- plumbing

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self._call(self._db.get_item, TableName=self._table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    @staticmethod
    def _call(operation: Callable[..., Any], **kwargs: Any) -> Any:
        """ConditionalCheckFailed is a ClientError the callers read; other failures are transient."""
        try:
            return operation(**kwargs)
        except ClientError as e:
            if _code(e) == "ConditionalCheckFailedException":
                raise
            raise TransientError(f"DynamoDB {operation.__name__}: {_code(e)}") from e
        except BotoCoreError as e:
            raise TransientError(f"DynamoDB {operation.__name__}: {e}") from e


def _storm_key(job: str) -> dict[str, Any]:
    return {"pk": {"S": f"STORM#{job}"}, "sk": {"S": "CURRENT"}}


def _storm(job: str, item: dict[str, Any], *, is_new_member: bool) -> StormJoin:
    message = None
    if "ts" in item and "channel" in item:
        message = MessageRef(channel=item["channel"]["S"], ts=item["ts"]["S"])
    last = item.get("last_cause", {}).get("S")
    others = sorted(c for c in item.get("causes", {}).get("SS", []) if c != last)
    causes = tuple(([last] if last else []) + others)[:CAUSES_KEPT]
    return StormJoin(
        job=job,
        window_start=datetime.fromtimestamp(int(item["window_start"]["N"]), UTC),
        count=int(item["count"]["N"]),
        causes=causes,
        message=message,
        is_new_member=is_new_member,
        updated_at_count=int(item.get("updated_at_count", {}).get("N", "0")),
    )


def _cause(cause: str) -> str:
    return (cause or "unknown cause")[:150]


#: Lineage attributes of a chained run (absent for runs no chain started).
_CHAIN_ATTRIBUTES = ("chain_id", "triggered_by", "triggered_by_job")


def _chain_item(lineage: Lineage) -> dict[str, Any]:
    values = {name: getattr(lineage, name) for name in _CHAIN_ATTRIBUTES}
    return {name: {"S": value} for name, value in values.items() if value}


def _optional_text(item: dict[str, Any], name: str) -> str | None:
    return str(item[name]["S"]) if name in item else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class MemoryLineage:
    """Lineage for one container's life: `sam local invoke` without a table, and tests."""

    def __init__(self) -> None:
        self._items: dict[str, Lineage] = {}

    def lineage_of(self, task_arn: str) -> Lineage | None:
        return self._items.get(task_arn)

    def record_lineage(self, task_arn: str, lineage: Lineage) -> None:
        self._items[task_arn] = lineage
