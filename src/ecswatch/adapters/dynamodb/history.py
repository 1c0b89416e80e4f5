"""Run history on the state table: one PutItem per event, one Query per question.

Keys (see the table in ``ecswatch.adapters.dynamodb.state``)::

    pk     JOB#<job>
    sk     RUN#<started at, ISO 8601 UTC with milliseconds>#<run id>
    gsi1pk RUNID#<task id, or the failed launch's run id>     (find one run without knowing its job)
    gsi1sk the same as sk

The ISO timestamps have one fixed width, so the sort key orders runs by start time and "runs of
job X between T1 and T2, newest first" is one Query (``BETWEEN``, ``ScanIndexForward=False``),
paginated with ``LastEvaluatedKey``.

A run's RUNNING and STOPPED events share the key (``started at`` is the task's createdAt), so
the stop's write replaces the start's record. Events arrive out of order: a RUNNING event
processed after the STOPPED one must not turn a finished run back into a running one, so
writes without an outcome are conditional on the item having none (``attribute_not_exists``);
writes with an outcome are not (a duplicate stop writes the same record again).

Items expire ``retention_days`` after they were last written (TTL attribute ``expires_at``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from ecswatch.adapters.dynamodb.keys import bounded
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.run import RunRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_RETENTION_DAYS = 90
INDEX = "gsi1"
#: Items per Query page. Small enough that the slow-run check (20 runs) usually reads one page.
PAGE_SIZE = 50
_UPPER = "RUN$"  # "$" sorts right after "#": above every RUN#... key
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})
#: The caller's credentials themselves were refused: expired, unknown, or signed with a wrong secret.
_BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
    }
)
#: The request does not fit the table (a table that is not ecswatch's, without its index).
_INVALID = frozenset({"ValidationException"})
#: "... is not authorized to perform: dynamodb:Query on resource: ..." names the missing permission.
_PERMISSION = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")
_ID_SHAPE = re.compile(r"[A-Za-z0-9:._/-]+")


class HistoryRefused(DeliveryError):
    """The history table refused in a way waiting will not mend. ``fix`` says what must change, so
    a front end can name its own options for it (the CLI: --table, --profile)."""

    def __init__(self, message: str, *, fix: Literal["table", "credentials", "permission"]) -> None:
        super().__init__(message)
        self.fix = fix


def iso_ms(moment: datetime) -> str:
    """``2025-03-04T02:00:03.118Z``: one width for every moment, so strings sort as times do."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_sort_key(run: RunRecord) -> str:
    return f"RUN#{iso_ms(run.started_at)}#{bounded(run.run_id)}"


def lookup_id(run_or_task: str) -> str:
    """What identifies a run for lookups: a task ARN's task id (the id people paste from the
    console), else the run id as given (``launch:<CloudTrail eventID>``)."""
    text = run_or_task.strip()
    if text.startswith("arn:") and ":task/" in text:
        return text.rsplit("/", 1)[-1]
    return text


class DynamoRunHistory:
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._db = client
        self._table = table
        self._retention_seconds = retention_days * 86_400
        self._clock = clock
        self._page_size = page_size
        self._lock = threading.Lock()
        #: DynamoDB calls made, for the benchmark: writes (PutItem) and reads (Query pages).
        self.writes = 0
        self.reads = 0

    def record(self, run: RunRecord) -> None:
        item = to_item(run, expires_at=int(self._clock()) + self._retention_seconds)
        request: dict[str, Any] = {"TableName": self._table, "Item": item}
        if run.outcome is None:
            request["ConditionExpression"] = "attribute_not_exists(outcome)"
        self._count(writes=1)
        try:
            self._call("PutItem", self._db.put_item, **request)
        except ClientError as e:
            if _code(e) != "ConditionalCheckFailedException":
                raise
            # The run already has its outcome: this RUNNING event came late. Nothing to change.

    def runs(
        self,
        job: str,
        *,
        since: datetime,
        until: datetime | None = None,
        limit: int | None = None,
        outcome: str | None = None,
    ) -> list[RunRecord]:
        upper = f"RUN#{iso_ms(until)}$" if until is not None else _UPPER
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lower AND :upper",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"JOB#{job}"},
                ":lower": {"S": f"RUN#{iso_ms(since)}"},
                ":upper": {"S": upper},
            },
            "ScanIndexForward": False,
        }
        if outcome is not None:
            request["FilterExpression"] = "outcome = :outcome"
            request["ExpressionAttributeValues"][":outcome"] = {"S": outcome}
        return self._query(request, limit, filtered=outcome is not None)

    def run(self, run_id: str) -> RunRecord | None:
        key = lookup_id(run_id)
        if not key or not _ID_SHAPE.fullmatch(key):
            return None
        request = {
            "TableName": self._table,
            "IndexName": INDEX,
            "KeyConditionExpression": "gsi1pk = :id",
            "ExpressionAttributeValues": {":id": {"S": f"RUNID#{bounded(key)}"}},
            "ScanIndexForward": False,
        }
        found = self._query(request, limit=1, filtered=False)
        return found[0] if found else None

    # ---------------------------------------------------------------- plumbing

    def _query(self, request: dict[str, Any], limit: int | None, *, filtered: bool) -> list[RunRecord]:
        """Follow LastEvaluatedKey until the range is read or ``limit`` runs are found.

        DynamoDB applies ``Limit`` before the filter, so a filtered query asks for whole pages
        and stops once it has enough; an unfiltered one asks for exactly what is still missing.
        """
        found: list[RunRecord] = []
        start: Mapping[str, Any] | None = None
        while limit is None or len(found) < limit:
            page = dict(request)
            wanted = (
                self._page_size if limit is None or filtered else min(self._page_size, limit - len(found))
            )
            page["Limit"] = wanted
            if start is not None:
                page["ExclusiveStartKey"] = start
            self._count(reads=1)
            response = self._call("Query", self._db.query, **page)
            found += [from_item(item) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return found if limit is None else found[:limit]

    def _count(self, *, writes: int = 0, reads: int = 0) -> None:
        with self._lock:
            self.writes += writes
            self.reads += reads

    def _call(self, name: str, operation: Callable[..., Any], **kwargs: Any) -> Any:
        """A missing table, refused credentials, missing rights or a table of another shape will not
        pass by retrying: :class:`HistoryRefused` says what to fix. ConditionalCheckFailed is left
        for the caller; anything else (throttling, 5xx, timeouts) may pass: TransientError."""
        try:
            return operation(**kwargs)
        except ClientError as e:
            code = _code(e)
            if code == "ConditionalCheckFailedException":
                raise
            refused = self._refused(name, code, _message(e))
            if refused is not None:
                raise refused from e
            raise TransientError(f"DynamoDB {name} on {self._table!r}: {code}") from e
        except BotoCoreError as e:
            raise TransientError(f"DynamoDB {name} on {self._table!r}: {e}") from e

    def _refused(self, name: str, code: str, message: str) -> HistoryRefused | None:
        said = f"{code}: {message}" if message else code
        if code in _NOT_FOUND:
            return HistoryRefused(
                f"DynamoDB {name}: table {self._table!r} not found ({code}); check the table name and region",
                fix="table",
            )
        if code in _BAD_CREDENTIALS:
            return HistoryRefused(
                f"DynamoDB {name}: AWS refused the credentials ({said}); check your AWS credentials/profile",
                fix="credentials",
            )
        if code in _DENIED:
            named = _PERMISSION.search(message)
            permission = named.group(1) if named else f"dynamodb:{name}"
            return HistoryRefused(
                f"DynamoDB {name} on {self._table!r} not allowed ({code}); the credentials need {permission}",
                fix="permission",
            )
        if code in _INVALID:
            return HistoryRefused(
                f"DynamoDB {name} on {self._table!r} refused ({said}); is it the ecswatch state table "
                f"(keys pk/sk, index {INDEX})?",
                fix="table",
            )
        return None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return " ".join(str(error.response.get("Error", {}).get("Message", "")).split())


# --------------------------------------------------------------------------- items


def to_item(run: RunRecord, *, expires_at: int) -> dict[str, Any]:
    sk = run_sort_key(run)
    item: dict[str, Any] = {
        "pk": {"S": f"JOB#{run.job}"},
        "sk": {"S": sk},
        "gsi1pk": {"S": f"RUNID#{bounded(lookup_id(run.run_id))}"},
        "gsi1sk": {"S": sk},
        "job": {"S": run.job},
        "run_id": {"S": run.run_id},
        "cluster": {"S": run.cluster},
        "region": {"S": run.region},
        "started_at": {"S": iso_ms(run.started_at)},
        "attempt": {"N": str(run.attempt)},
        "attempts_of": {"N": str(run.attempts_of)},
        "expires_at": {"N": str(expires_at)},
    }
    optional: dict[str, str | None] = {
        "stopped_at": iso_ms(run.stopped_at) if run.stopped_at else None,
        "task_started_at": iso_ms(run.task_started_at) if run.task_started_at else None,
        "outcome": run.outcome,
        "cause": run.cause or None,
        "root_run_id": run.root_run_id,
        "log_region": run.log_region,
        "log_group": run.log_group,
        "log_stream": run.log_stream,
        "log_note": run.log_note,
        "retry": run.retry,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value})
    if run.exit_code is not None:
        item["exit_code"] = {"N": str(run.exit_code)}
    durations = {k: {"N": repr(float(v))} for k, v in (run.durations or {}).items() if v is not None}
    if durations:
        item["durations"] = {"M": durations}
    if run.links:
        item["links"] = {"M": {name: {"S": url} for name, url in run.links.items()}}
    return item


def from_item(item: Mapping[str, Any]) -> RunRecord:
    def text(name: str) -> str | None:
        value = item.get(name, {}).get("S")
        return str(value) if value is not None else None

    def number(name: str) -> int | None:
        value = item.get(name, {}).get("N")
        return int(value) if value is not None else None

    def moment(name: str) -> datetime | None:
        value = text(name)
        return datetime.fromisoformat(value) if value else None

    started = moment("started_at")
    assert started is not None, f"history item {item.get('sk')} has no started_at"
    durations = {k: float(v["N"]) for k, v in item.get("durations", {}).get("M", {}).items()}
    links = {k: str(v["S"]) for k, v in item.get("links", {}).get("M", {}).items()}
    return RunRecord(
        job=text("job") or "",
        run_id=text("run_id") or "",
        cluster=text("cluster") or "",
        region=text("region") or "",
        started_at=started,
        stopped_at=moment("stopped_at"),
        outcome=text("outcome"),
        cause=text("cause") or "",
        exit_code=number("exit_code"),
        attempt=number("attempt") or 1,
        attempts_of=number("attempts_of") or 1,
        root_run_id=text("root_run_id"),
        durations=durations or None,
        links=links or None,
        task_started_at=moment("task_started_at"),
        log_region=text("log_region"),
        log_group=text("log_group"),
        log_stream=text("log_stream"),
        log_note=text("log_note"),
        retry=text("retry"),
    )


# --------------------------------------------------------------------------- in memory


class MemoryRunHistory:
    """The same rules in a dict: for tests, and for `sam local invoke` without a table."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], RunRecord] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def record(self, run: RunRecord) -> None:
        key = (run.job, run_sort_key(run))
        with self._lock:
            self.writes += 1
            current = self._items.get(key)
            if run.outcome is None and current is not None and current.outcome is not None:
                return  # a late RUNNING event never undoes a stop
            self._items[key] = run

    def runs(
        self,
        job: str,
        *,
        since: datetime,
        until: datetime | None = None,
        limit: int | None = None,
        outcome: str | None = None,
    ) -> list[RunRecord]:
        with self._lock:
            found = [
                run
                for (name, _), run in self._items.items()
                if name == job
                and run.started_at >= since
                and (until is None or run.started_at <= until)
                and (outcome is None or run.outcome == outcome)
            ]
        found.sort(key=run_sort_key, reverse=True)
        return found if limit is None else found[:limit]

    def run(self, run_id: str) -> RunRecord | None:
        key = lookup_id(run_id)
        with self._lock:
            matches = [run for run in self._items.values() if lookup_id(run.run_id) == key]
        return max(matches, key=run_sort_key) if matches else None
