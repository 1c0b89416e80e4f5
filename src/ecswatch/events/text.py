"""Shortening AWS's messages so what matters survives: the start says what failed, the end says what to do.

AWS ends many stop reasons with its own advice ("... Please check your task network
configuration."), after a long middle of retried calls and ARNs. Cutting at the end drops exactly
that advice, so every place that shortens a cause (the analysis, the CloudTrail parser, Slack,
Datadog, the CLI) cuts in the middle with :func:`cut_middle`. It lives in ``events`` because every
layer, the CloudTrail parser included, may import from here.
"""

from __future__ import annotations

ELLIPSIS = "…"
#: What stands where the middle was cut.
GAP = f" {ELLIPSIS} "
#: A kept end is at most this share of the limit, so the start (what failed) keeps most of the room.
_TAIL_SHARE = 0.45
#: Where a sentence ends: AWS's advice is the last sentence of its message.
_SENTENCE_ENDS = (". ", "! ", "? ")


def cut_middle(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: its start and its last sentence, "…" where cut.

    The end kept is the message's last sentence when it fits in under half the room (AWS's advice),
    else its last words; both sides are cut at a space where one is near, never inside a word.
    """
    if len(text) <= limit:
        return text
    if limit <= len(GAP) + 2:
        return text[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""
    room = limit - len(GAP)
    tail = _tail(text, int(room * _TAIL_SHARE))
    head = _head(text, room - len(tail))
    return f"{head}{GAP}{tail}"


def _tail(text: str, most: int) -> str:
    """The last sentence when it fits in ``most`` characters, else the last words that do."""
    body = text.rstrip()
    starts = [body.rfind(end, 0, len(body) - 1) for end in _SENTENCE_ENDS]
    start = max(starts)
    if start != -1:
        sentence = body[start + 2 :]
        if 0 < len(sentence) <= most:
            return sentence
    piece = body[len(body) - most :]
    space = piece.find(" ")
    return piece[space + 1 :] if 0 <= space < most // 2 else piece


def _head(text: str, most: int) -> str:
    piece = text[:most]
    space = piece.rfind(" ")
    cut = piece[:space] if space >= most // 2 else piece
    return cut.rstrip(" ,;:-—")
