"""Just enough of the Lambda runtime to call handlers locally: a context and SQS batches."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:ecswatch-task-events"


@dataclass
class LambdaContext:
    function_name: str = "ecswatch-TaskEventsFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:ecswatch-TaskEventsFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_record(body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "SenderId": "AIDAEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": "1700000000001",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }


def sqs_batch(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS event whose records carry these EventBridge events (dicts) or raw bodies (str)."""
    return {
        "Records": [
            sqs_record(b if isinstance(b, str) else json.dumps(b, separators=(",", ":"))) for b in bodies
        ]
    }
