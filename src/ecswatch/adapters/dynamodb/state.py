"""DynamoDB state: storm windows and Slack threads, with conditional writes; idempotency via Powertools.

One table (``STATE_TABLE_NAME``), keys ``pk``/``sk``, TTL on ``expires_at``:

=========================  ==========  ==============================================
pk                         sk          what
=========================  ==========  ==============================================
``STORM#<job>``            ``OPEN``     the job's open failure window (in the runs' stop
                                        times): count, members and their states, causes,
                                        who posts (a lease), the Slack message, the version
                                        shown in it and who renders it (a lease)
``STORM#<job>``            ``CLOSED#<start ms>``  a closed window, kept so late news of its
                                        members (and late runs) still update its message
``RUN#<task arn>``         ``THREAD``   the Slack message (thread) of a run, or the storm
                                        window it is in
``RUN#<task arn>``         ``LINEAGE``  root run, attempt number and job of a retried task;
                                        chain id and triggering run of a chained one
``POST#<alert key>``       ``INTENT``   an alert about to be posted: channel and time, written
                                        before the post, so a later attempt looks for the post
                                        (Slack answered after the client's timeout) first
``IDEMPOTENCY``            <key hash>   Powertools Idempotency records (per sink, per report)
``JOB#<job>``              ``RUN#<started ISO ms>#<run id>``
                                        run history, one item per run (ecswatch.adapters.dynamodb.history);
                                        gsi1pk ``RUNID#<task id or run id>`` finds a run by id
``WATCHDOG``               ``JOB#<job>``  since when the watchdog watches a scheduled job, and
                                        its open missed run (ecswatch.adapters.dynamodb.watchdog_state)
=========================  ==========  ==============================================
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from msgspec.structs import replace

from ecswatch.adapters.dynamodb.keys import bounded
from ecswatch.errors import TransientError
from ecswatch.run import Lineage, MemberState, MessageRef, StormJoin, StormMember

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: How many distinct run keys a storm remembers for de-duplication (item size stays well under 400 KB).
MEMBER_LIMIT = 1000
#: How long a claim to post a storm message holds before another run may take over (the claimant died).
POST_LEASE_SECONDS = 120
#: How long one renderer may hold the right to update a storm's message (a few Slack calls).
RENDER_LEASE_SECONDS = 30
#: A window closes only unchanged since it was read (and shown) and only once posted.
_CLOSE_CONDITION = "window_ms = :ws AND version = :v AND attribute_exists(ts)"
#: How long a storm window is kept after it opened (closed windows too: late news updates them).
STORM_TTL_SECONDS = 14 * 86_400
CAUSES_KEPT = 5
THREAD_TTL_SECONDS = 14 * 86_400
LINEAGE_TTL_SECONDS = 30 * 86_400
#: An intent to post is kept a day: redeliveries come within half an hour (five, 360 s apart).
INTENT_TTL_SECONDS = 86_400


class DynamoNotificationState:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    # ---------------------------------------------------------------- storms

    def join_storm(self, job: str, member: StormMember, window_seconds: int) -> StormJoin | None:
        """Join the job's open window when the run stopped within a window of its start, or open one.

        Windows are in the runs' own stop times (not the processing clock): runs that stopped days
        apart never share a message, however close together their events are processed. A run that
        stopped a window or more *before* the open window (a late event) joins the closed window it
        falls in; None when there is none (it is alerted alone). A join
        that finds the window over for this run returns it with ``ended``: the caller shows it in
        full, closes it (:meth:`close_storm`) and joins again.
        """
        stopped, width = _ms(member.stopped), window_seconds * 1000
        for _ in range(4):  # the window may be opened or closed concurrently; a few tries settle it
            joined = self._try_join(job, member, stopped, width)
            if joined is not None:
                self._point_thread(member.run_key, joined)
                return joined
            current = self._get(_open_key(job))
            if current is None:
                opened = self._try_open(job, member, stopped, window_seconds)
                if opened is not None:
                    self._point_thread(member.run_key, opened)
                    return opened
                continue
            start = int(current["window_ms"]["N"])
            if _member_id(member.run_key) in current.get("roster", {}).get("M", {}):
                known = _storm(job, current, is_new_member=False)  # a redelivery
                self._point_thread(member.run_key, known)
                return known
            if start - width < stopped < start + width:
                if int(current["count"]["N"]) < MEMBER_LIMIT:
                    continue  # the window was opened or changed since this run tried: try again
                counted = self._count_only(job, start)  # a huge storm: count without remembering
                if counted is not None:
                    return counted
                continue
            if stopped <= start - width:
                return self._join_closed(job, member, stopped, width)
            return replace(_storm(job, current, is_new_member=False), ended=True)
        raise TransientError(f"storm window of {job} kept changing; retry")

    def _try_join(self, job: str, member: StormMember, stopped: int, width: int) -> StormJoin | None:
        try:
            item = self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_open_key(job),
                UpdateExpression=(
                    "SET roster.#m = :member, last_cause = :last ADD #count :one, version :one, causes :cause"
                ),
                ConditionExpression=(
                    "window_ms > :lo AND window_ms < :hi AND attribute_not_exists(roster.#m) "
                    "AND #count < :limit"
                ),
                ExpressionAttributeNames={"#count": "count", "#m": _member_id(member.run_key)},
                ExpressionAttributeValues={
                    ":member": {"M": _member_item(member)},
                    ":last": {"S": _cause(member.cause)},
                    ":one": {"N": "1"},
                    ":cause": {"SS": [_cause(member.cause)]},
                    ":lo": {"N": str(stopped - width)},
                    ":hi": {"N": str(stopped + width)},
                    ":limit": {"N": str(MEMBER_LIMIT)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError:
            return None  # ConditionalCheckFailed: not this window, already a member, or full
        return _storm(job, item, is_new_member=True)

    def _try_open(self, job: str, member: StormMember, stopped: int, window_seconds: int) -> StormJoin | None:
        item = _first_member_item(
            _open_key(job), stopped, member, int(time.time()) + window_seconds + STORM_TTL_SECONDS
        )
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError:
            return None  # someone opened it first: join theirs
        return _storm(job, item, is_new_member=True)

    def _join_closed(
        self, job: str, member: StormMember, stopped: int, width: int, *, again: bool = True
    ) -> StormJoin | None:
        """A late run (its event came after a newer window opened) joins the closed window its stop
        time falls in: that window's message names it too. With no such window it opens one (see
        :meth:`_open_late`). None (rare): the window is full, or kept changing: alerted alone."""
        found = self._call(
            self._db.query,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": _open_key(job)["pk"],
                ":lo": {"S": _closed_key(job, max(0, stopped - width + 1))["sk"]["S"]},
                ":hi": {"S": _closed_key(job, stopped + width - 1)["sk"]["S"]},
            },
            ConsistentRead=True,
        ).get("Items", [])
        if not found:
            opened = self._open_late(job, member, stopped, width)
            if opened is None and again:  # another late run opened it just now: join that one
                return self._join_closed(job, member, stopped, width, again=False)
            return opened
        window = min(found, key=lambda item: abs(int(item["window_ms"]["N"]) - stopped))
        start = int(window["window_ms"]["N"])
        try:
            item = self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_closed_key(job, start),
                UpdateExpression=(
                    "SET roster.#m = :member, last_cause = :last ADD #count :one, version :one, causes :cause"
                ),
                ConditionExpression="attribute_not_exists(roster.#m) AND #count < :limit",
                ExpressionAttributeNames={"#count": "count", "#m": _member_id(member.run_key)},
                ExpressionAttributeValues={
                    ":member": {"M": _member_item(member)},
                    ":last": {"S": _cause(member.cause)},
                    ":one": {"N": "1"},
                    ":cause": {"SS": [_cause(member.cause)]},
                    ":limit": {"N": str(MEMBER_LIMIT)},
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
            joined = _storm(job, item, is_new_member=True, closed=True)
        except ClientError:
            if _member_id(member.run_key) not in window.get("roster", {}).get("M", {}):
                return None  # a full window: this late run is alerted alone
            joined = _storm(job, window, is_new_member=False, closed=True)  # a redelivery
        self._point_thread(member.run_key, joined)
        return joined

    def _open_late(self, job: str, member: StormMember, stopped: int, width: int) -> StormJoin | None:
        """A late run with no window of its own yet opens one, already closed (newer runs belong to
        the open window), starting at the window-wide bucket its stop time falls in: late runs of
        one bucket processed at once meet in one window (conditional put), and post one message."""
        start = stopped - stopped % width
        item = _first_member_item(
            _closed_key(job, start), start, member, int(time.time()) + STORM_TTL_SECONDS
        )
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError:
            return None  # another late run opened it just now
        opened = _storm(job, item, is_new_member=True, closed=True)
        self._point_thread(member.run_key, opened)
        return opened

    def _count_only(self, job: str, start: int) -> StormJoin | None:
        try:
            item = self._call(
                self._db.update_item,
                TableName=self._table,
                Key=_open_key(job),
                UpdateExpression="ADD #count :one, version :one",
                ConditionExpression="window_ms = :ws",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":ws": {"N": str(start)}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError:
            return None
        return _storm(job, item, is_new_member=True)

    def _point_thread(self, run_key: str, storm: StormJoin) -> None:
        """The run's thread is the storm's message, found through the window (it may not be posted
        yet): later news about the run updates its state there and goes into that thread."""
        self._call(
            self._db.put_item,
            TableName=self._table,
            Item={
                **_thread_key(run_key),
                "storm_job": {"S": storm.job},
                "window_ms": {"N": str(_ms(storm.window_start))},
                "own": {"BOOL": False},
                "expires_at": {"N": str(int(time.time()) + THREAD_TTL_SECONDS)},
            },
        )

    def claim_storm_post(self, job: str, window_start: datetime, run_key: str, now: datetime) -> bool:
        """A lease, not a lock: a claimant that dies (or whose posts keep failing) is taken over by
        any run once its lease is over, and its redelivery may claim again."""
        epoch = int(now.timestamp())
        claimed = self._update_storm(
            job,
            _ms(window_start),
            update="SET poster = :me, poster_until = :until",
            condition=(
                "attribute_not_exists(ts) AND "
                "(attribute_not_exists(poster) OR poster = :me OR poster_until < :now)"
            ),
            values={
                ":me": {"S": run_key},
                ":until": {"N": str(epoch + POST_LEASE_SECONDS)},
                ":now": {"N": str(epoch)},
            },
        )
        return claimed is not None

    def set_storm_message(self, job: str, window_start: datetime, ref: MessageRef, shown: int) -> StormJoin:
        """Remember the posted message, rendered from version ``shown``; the answer holds every
        member that joined while it was being posted."""
        stored = self._update_storm(
            job,
            _ms(window_start),
            update="SET channel = :c, ts = :ts, shown = :v",
            condition="attribute_exists(window_ms)",
            values={":v": {"N": str(shown)}, ":c": {"S": ref.channel}, ":ts": {"S": ref.ts}},
        )
        if stored is None:  # cannot happen while the post is claimed: a window closes only once posted
            raise TransientError(f"storm window of {job} is gone; its message was posted: {ref.ts}")
        return stored

    def close_storm(self, storm: StormJoin) -> bool:
        """Archive the window and free the job for the next one, in one transaction that only passes
        when the window was posted and nothing changed since ``storm`` was read and shown."""
        current = self._get(_open_key(storm.job))
        if current is None or int(current["window_ms"]["N"]) != _ms(storm.window_start):
            return True  # closed by someone else already
        if "ts" not in current or int(current["version"]["N"]) != storm.version:
            return False
        archived = {**current, **_closed_key(storm.job, _ms(storm.window_start))}
        try:
            self._call(
                self._db.transact_write_items,
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": archived}},
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": _open_key(storm.job),
                            "ConditionExpression": _CLOSE_CONDITION,
                            "ExpressionAttributeValues": {
                                ":ws": {"N": str(_ms(storm.window_start))},
                                ":v": {"N": str(storm.version)},
                            },
                        }
                    },
                ],
            )
        except ClientError as e:
            if _code(e) in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                return False
            raise
        return True

    def set_member_state(self, run_key: str, state: MemberState) -> StormJoin | None:
        """A member's news (retrying, recovered, gave up) recorded in its storm, open or closed;
        None when the run is in no storm."""
        pointer = self._get(_thread_key(run_key))
        if not pointer or "storm_job" not in pointer:
            return None
        job, start = pointer["storm_job"]["S"], int(pointer["window_ms"]["N"])
        return self._update_storm(
            job,
            start,
            update="SET roster.#m.st = :s ADD version :one",
            condition="attribute_exists(roster.#m)",
            names={"#m": _member_id(run_key)},
            values={":s": {"S": state.value}, ":one": {"N": "1"}},
        )

    def read_storm(self, job: str, window_start: datetime) -> StormJoin | None:
        """The window as stored now, open or closed."""
        start = _ms(window_start)
        current = self._get(_open_key(job))
        if current is not None and int(current["window_ms"]["N"]) == start:
            return _storm(job, current, is_new_member=False)
        closed = self._get(_closed_key(job, start))
        return _storm(job, closed, is_new_member=False, closed=True) if closed else None

    def claim_storm_render(self, storm: StormJoin, by: str, now: datetime) -> StormJoin | None:
        """The right to update the storm's message now, for one renderer at a time (a lease), and
        only while the message is behind; the window as stored, to render from, or None."""
        epoch = int(now.timestamp())
        return self._update_storm(
            storm.job,
            _ms(storm.window_start),
            update="SET render_by = :by, render_until = :until, rendered_at = :at",
            condition=(
                "attribute_exists(ts) AND shown < version AND "
                "(attribute_not_exists(render_until) OR render_until < :now OR render_by = :by)"
            ),
            values={
                ":by": {"S": by},
                ":until": {"N": str(epoch + RENDER_LEASE_SECONDS)},
                ":now": {"N": str(epoch)},
                ":at": {"N": str(_ms(now))},
            },
        )

    def storm_shown(self, storm: StormJoin, by: str, *, rendered: bool) -> None:
        """End a render: the message now shows ``storm.version`` (when ``rendered``); the lease is freed."""
        update = (
            "SET shown = :v REMOVE render_by, render_until" if rendered else "REMOVE render_by, render_until"
        )
        self._update_storm(
            storm.job,
            _ms(storm.window_start),
            update=update,
            condition="render_by = :by AND shown < :v",
            values={":by": {"S": by}, ":v": {"N": str(storm.version)}},
        )

    def storm_listed(self, storm: StormJoin, run_keys: Sequence[str]) -> None:
        """Mark members as named in the storm's thread (after the reply that names them was posted)."""
        if not run_keys:
            return
        names = {f"#m{i}": _member_id(key) for i, key in enumerate(run_keys)}
        self._update_storm(
            storm.job,
            _ms(storm.window_start),
            update="SET " + ", ".join(f"roster.{name}.r = :yes" for name in names),
            condition=" AND ".join(f"attribute_exists(roster.{name})" for name in names),
            names=names,
            values={":yes": {"BOOL": True}},
        )

    def _update_storm(
        self,
        job: str,
        start: int,
        *,
        update: str,
        condition: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any],
    ) -> StormJoin | None:
        """One conditional update of the window starting at ``start``: the open item while it is
        that window, else its archived copy. None when the condition does not hold."""
        for closed in (False, True):
            key = _closed_key(job, start) if closed else _open_key(job)
            extra = "attribute_exists(pk)" if closed else "window_ms = :ws"
            try:
                item = self._call(
                    self._db.update_item,
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=f"{extra} AND ({condition})",
                    **({"ExpressionAttributeNames": names} if names else {}),
                    ExpressionAttributeValues={**values, **({} if closed else {":ws": {"N": str(start)}})},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            except ClientError:
                if closed:
                    return None
                current = self._get(_open_key(job))
                if current is not None and int(current["window_ms"]["N"]) == start:
                    return None  # the open window, whose condition does not hold
                continue
            return _storm(job, item, is_new_member=False, closed=closed)
        return None

    # ---------------------------------------------------------------- threads

    def thread_for(self, run_key: str) -> MessageRef | None:
        """The run's own message, or (``own`` False) the message of the storm it is in; a storm
        not posted yet gives a ref with an empty ``ts``."""
        item = self._get(_thread_key(run_key))
        if not item:
            return None
        if "storm_job" in item:
            storm = self.read_storm(
                item["storm_job"]["S"], datetime.fromtimestamp(int(item["window_ms"]["N"]) / 1000, UTC)
            )
            message = storm.message if storm else None
            return replace(message, own=False) if message else MessageRef(channel="", ts="", own=False)
        own = item.get("own", {}).get("BOOL", True)
        return MessageRef(channel=item["channel"]["S"], ts=item["ts"]["S"], own=own)

    def save_thread(self, run_key: str, ref: MessageRef) -> None:
        self._call(
            self._db.put_item,
            TableName=self._table,
            Item={
                **_thread_key(run_key),
                "channel": {"S": ref.channel},
                "ts": {"S": ref.ts},
                "own": {"BOOL": ref.own},
                "expires_at": {"N": str(int(time.time()) + THREAD_TTL_SECONDS)},
            },
        )

    def intend_post(self, key: str, channel: str, now: datetime, *, within: int) -> datetime | None:
        """One conditional write: the intent is recorded unless an earlier one younger than
        ``within`` seconds stands (then it is kept, and its time returned, so every later attempt
        looks from the first one's time)."""
        at = _ms(now)
        try:
            self._call(
                self._db.put_item,
                TableName=self._table,
                Item={
                    **_intent_key(key),
                    "channel": {"S": channel[:256]},
                    "at": {"N": str(at)},
                    "expires_at": {"N": str(int(now.timestamp()) + INTENT_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #at <= :stale",
                ExpressionAttributeNames={"#at": "at"},
                ExpressionAttributeValues={":stale": {"N": str(at - within * 1000)}},
            )
        except ClientError:
            earlier = self._get(_intent_key(key))
            if earlier is None:  # expired between the write and the read: this attempt is the first
                return None
            return datetime.fromtimestamp(int(earlier["at"]["N"]) / 1000, UTC)
        return None

    # ---------------------------------------------------------------- lineage

    def lineage_of(self, task_arn: str) -> Lineage | None:
        item = self._get(_lineage_key(task_arn))
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
            **_lineage_key(task_arn),
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


def _open_key(job: str) -> dict[str, Any]:
    return {"pk": {"S": f"STORM#{job}"}, "sk": {"S": "OPEN"}}


def _closed_key(job: str, start: int) -> dict[str, Any]:
    """Closed windows sort by start (13 digits of epoch ms last until the year 2286)."""
    return {"pk": {"S": f"STORM#{job}"}, "sk": {"S": f"CLOSED#{start:013d}"}}


def _thread_key(run_key: str) -> dict[str, Any]:
    return {"pk": {"S": f"RUN#{bounded(run_key)}"}, "sk": {"S": "THREAD"}}


def _intent_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"POST#{bounded(key)}"}, "sk": {"S": "INTENT"}}


def _lineage_key(task_arn: str) -> dict[str, Any]:
    return {"pk": {"S": f"RUN#{bounded(task_arn)}"}, "sk": {"S": "LINEAGE"}}


def _ms(value: datetime) -> int:
    """Epoch milliseconds: a window starts at its first run's stop time, not rounded to the second."""
    return round(value.timestamp() * 1000)


def _member_id(run_key: str) -> str:
    """A bounded map key for any run key (task ARNs are long; forged ones may be 2 KB)."""
    return hashlib.sha256(run_key.encode()).hexdigest()[:24]


def _member_item(member: StormMember) -> dict[str, Any]:
    return {
        "k": {"S": member.run_key[:2048]},
        "l": {"S": member.label[:100]},
        "t": {"N": str(_ms(member.stopped))},
        "c": {"S": _cause(member.cause)},
        "st": {"S": member.state.value},
    }


def _members(item: dict[str, Any]) -> tuple[StormMember, ...]:
    members = [
        StormMember(
            run_key=m["M"]["k"]["S"],
            label=m["M"]["l"]["S"],
            stopped=datetime.fromtimestamp(int(m["M"]["t"]["N"]) / 1000, UTC),
            cause=m["M"]["c"]["S"],
            state=MemberState(m["M"]["st"]["S"]),
            listed=bool(m["M"].get("r", {}).get("BOOL", False)),
        )
        for m in item.get("roster", {}).get("M", {}).values()
    ]
    return tuple(sorted(members, key=lambda m: (m.stopped, m.run_key)))


def _storm(job: str, item: dict[str, Any], *, is_new_member: bool, closed: bool = False) -> StormJoin:
    message = None
    if "ts" in item and "channel" in item:
        message = MessageRef(channel=item["channel"]["S"], ts=item["ts"]["S"], own=False)
    last = item.get("last_cause", {}).get("S")
    others = sorted(c for c in item.get("causes", {}).get("SS", []) if c != last)
    causes = tuple(([last] if last else []) + others)[:CAUSES_KEPT]
    return StormJoin(
        job=job,
        window_start=datetime.fromtimestamp(int(item["window_ms"]["N"]) / 1000, UTC),
        count=int(item["count"]["N"]),
        causes=causes,
        message=message,
        is_new_member=is_new_member,
        version=int(item.get("version", {}).get("N", "0")),
        shown=int(item.get("shown", {}).get("N", "0")),
        members=_members(item),
        closed=closed,
        rendered_at=datetime.fromtimestamp(int(item["rendered_at"]["N"]) / 1000, UTC)
        if "rendered_at" in item
        else None,
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


def _first_member_item(
    key: Mapping[str, Any], window_ms: int, member: StormMember, expires_at: int
) -> dict[str, Any]:
    """A storm window's item as its first member opens it (open or closed window alike)."""
    return {
        **key,
        "window_ms": {"N": str(window_ms)},
        "count": {"N": "1"},
        "version": {"N": "1"},
        "shown": {"N": "0"},
        "roster": {"M": {_member_id(member.run_key): {"M": _member_item(member)}}},
        "causes": {"SS": [_cause(member.cause)]},
        "last_cause": {"S": _cause(member.cause)},
        "expires_at": {"N": str(expires_at)},
    }
