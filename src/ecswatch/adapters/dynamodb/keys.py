"""DynamoDB keys built from input, bounded so that no input can make a write impossible.

A partition key may hold 2,048 bytes and a sort key 1,024. A task ARN or a CloudTrail eventID is
input: one longer than that made every write of its item fail, every delivery of its message fail
with it, and each redelivery post its alert again. A key part longer than :data:`MAX_PART_BYTES` is
kept readable at its start and made unique by a SHA-256 of the whole.
"""

from __future__ import annotations

import hashlib

#: Room for a prefix ("RUN#", an ISO time) within the 1,024 bytes of a sort key.
MAX_PART_BYTES = 512
_KEPT_CHARACTERS = 128


def bounded(part: str, max_bytes: int = MAX_PART_BYTES) -> str:
    """``part`` itself when it fits, else its first characters, "#sha256:" and the hash of all of it."""
    if len(part.encode("utf-8")) <= max_bytes:
        return part
    digest = hashlib.sha256(part.encode("utf-8")).hexdigest()
    return f"{part[:_KEPT_CHARACTERS]}#sha256:{digest}"
