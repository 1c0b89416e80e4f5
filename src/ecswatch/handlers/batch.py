"""The SQS batch loop of the two queue-fed functions (task events, retry requests).

Partial batch responses (``ReportBatchItemFailures``): each record is handled on its own and the ones
that raised are reported by message id, so SQS redelivers those and, after ``maxReceiveCount``,
dead-letters them, while the rest of the batch is done. This is Powertools' ``BatchProcessor`` for
SQS without the ~60 ms its import adds to every cold start (asyncio, and the data classes of every
event source Lambda has), and with two differences, both so that a message is never lost nor acted
on twice:

* when every record failed, the failures are returned, not raised: a Lambda error would page for
  what is a per-message problem, and SQS treats the answer the same way;
* a record is not started with less than :data:`~ecswatch.budget.RECORD_SECONDS` of the invocation
  left, but handed back as failed: an invocation that runs into its timeout reports nothing, and the
  whole batch, records already alerted or launched included, would come back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from aws_lambda_powertools import Logger

from ecswatch.budget import RECORD_SECONDS, Budget
from ecswatch.events.task import MalformedEvent

logger = Logger(child=True)


class SQSMessage(msgspec.Struct, frozen=True):
    """What the functions read of an SQS record."""

    message_id: str
    body: str
    #: How many times SQS has handed this message out, this time included (``ApproximateReceiveCount``).
    receive_count: int = 1
    #: Changes the message's visibility (the retry launcher's backoff); empty when not given.
    receipt_handle: str = ""


def message_of(record: Mapping[str, Any]) -> SQSMessage:
    """An SQS record of a Lambda event as a message; MalformedEvent when it has no id or body."""
    try:
        message_id, body = record["messageId"], record["body"]
    except (KeyError, TypeError) as e:
        raise MalformedEvent(f"not an SQS record: no {e}") from e
    attributes = record.get("attributes") or {}
    try:
        receives = max(1, int(attributes.get("ApproximateReceiveCount") or 1))
    except (TypeError, ValueError):
        receives = 1
    return SQSMessage(
        message_id=str(message_id),
        body=str(body),
        receive_count=receives,
        receipt_handle=str(record.get("receiptHandle") or ""),
    )


def process_batch(
    event: Mapping[str, Any], handle: Callable[[SQSMessage], object], *, budget: Budget | None = None
) -> dict[str, list[dict[str, str]]]:
    """Each record through ``handle`` (which logs its own errors); the ones that raised, and the ones
    left for want of time, in ``batchItemFailures``. An event without records is refused."""
    records = event.get("Records")
    if not records or not isinstance(records, list):
        raise MalformedEvent("not an SQS batch: the event has no Records")
    budget = budget or Budget()
    failed: list[dict[str, str]] = []
    for index, record in enumerate(records):
        message = message_of(record)
        if not budget.allows(RECORD_SECONDS):
            failed.extend({"itemIdentifier": message_of(r).message_id} for r in records[index:])
            logger.warning(
                "records not started: too little time left; SQS redelivers them",
                extra={"records": len(records) - index, "seconds_left": round(budget.remaining(), 1)},
            )
            break
        try:
            handle(message)
        except Exception:  # reported in batchItemFailures; the handler logged it
            failed.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failed}
