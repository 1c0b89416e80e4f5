"""A local stand-in for Slack's Web API and incoming webhooks, for tests and the offline demo.

The real slack-sdk talks to it over HTTP (``SlackPoster(base_url=fake.url)``, or a
webhook URL under ``fake.url + "/services/..."``), so what the tests assert is
what would have gone over the wire. It keeps the conversation as Slack would
show it: messages in order, thread replies, the latest blocks after edits and
each message's ``metadata``, and :func:`render` prints a message as plain text for
the demo. ``conversations.history`` and ``conversations.replies`` answer as Slack
does (newest first / parent then replies oldest first, ``oldest`` exclusive,
``limit`` and ``cursor`` pages, metadata only with ``include_all_metadata``,
``missing_scope`` without ``channels:history`` / ``groups:history``).

Faults, per Web API method: :meth:`FakeSlack.fault` answers the next calls with an
HTTP status (429 with Retry-After, 500), slowly (``delay`` seconds, then the real
answer: Slack stored the message but the client may have given up), or with
Slack's own ``{"ok": false, "error": ...}``. The same switch is reachable over
HTTP (``POST /_control/fault``; ``GET /_control/messages``, ``GET
/_control/requests``, ``POST /_control/clear``), so handler processes, a demo or
a later fault suite can drive a fake running in another process: see
:func:`control`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from local.capture import Captured, CaptureServer

API = "/api/"
WEBHOOKS = "/services/"
#: The fakes' control API (not Slack's): faults on demand and what was received, over HTTP.
CONTROL = "/_control/"
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{8,}$")
_EMOJI = {
    ":x:": "❌",
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":information_source:": "ℹ️",  # noqa: RUF001 - the emoji is the point
}
_BOT = {"user": "U0ECSWATCH", "bot_id": "B0ECSWATCH", "team": "T0ECSWATCH"}

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class SlackMessage:
    """One message as the channel shows it now (after any edits)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    edits: int = 0
    via: str = "api"  # api | webhook
    #: chat.postMessage's ``metadata`` (event_type, event_payload), as posted.
    metadata: dict[str, Any] | None = None


@dataclass
class _ScriptedError:
    error: str
    status: int
    times: int


@dataclass
class FakeSlack(CaptureServer):
    """Answers chat.postMessage, chat.update, auth.test and webhooks like Slack, and remembers them.

    ``valid_tokens``: when given, any other bearer token gets ``invalid_auth`` (token rotation tests);
    by default any ``xox*`` token is accepted.
    """

    valid_tokens: set[str] | None = None
    #: Channel name -> whether the bot is a member, for conversations.list/info (``ecswatch doctor``).
    channels: dict[str, bool] = field(default_factory=dict)
    #: The token's scopes, sent as Slack sends them on every Web API answer (x-oauth-scopes).
    scopes: str = "chat:write,channels:history,groups:history"
    _messages: list[SlackMessage] = field(default_factory=list)
    _errors: dict[str, list[_ScriptedError]] = field(default_factory=dict)
    _counter: int = 0
    #: Channel names messages were posted to, by id: such a channel exists (conversations.list).
    _names: dict[str, str] = field(default_factory=dict)
    _state: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.route(API + "chat.postMessage", self._post_message)
        self.route(API + "chat.update", self._update)
        self.route(API + "auth.test", self._auth_test)
        self.route(API + "conversations.list", self._conversations_list)
        self.route(API + "conversations.info", self._conversations_info)
        self.route(API + "conversations.history", self._conversations_history)
        self.route(API + "conversations.replies", self._conversations_replies)
        self.route(WEBHOOKS, self._webhook)
        self.route(CONTROL + "fault", self._control_fault)
        self.route(CONTROL + "messages", lambda _: (200, [asdict(m) for m in self.messages()], {}))
        self.route(CONTROL + "requests", lambda _: (200, received(self), {}))
        self.route(CONTROL + "clear", self._control_clear)

    # -- what tests and the demo use
    def start(self) -> FakeSlack:
        super().start()
        return self

    @contextmanager
    def running(self) -> Iterator[FakeSlack]:
        """Like CaptureServer.running, typed as the fake so callers see its helpers."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOKS + "T0ECSWATCH/B0ECSWATCH/fakewebhooksecret"

    def error(self, method: str, error: str, *, status: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` ("chat.postMessage", or a path such as
        "/services/") with Slack's error: ``{"ok": false, "error": ...}`` with HTTP 200 for the Web
        API, the bare code as text with HTTP 404 (or ``status``) for a webhook."""
        path = method if method.startswith("/") else API + method
        default = 404 if path.startswith(WEBHOOKS) else 200
        with self._state:
            self._errors.setdefault(path, []).append(_ScriptedError(error, status or default, times))

    def fault(
        self,
        method: str,
        *,
        status: int = 500,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` ("chat.postMessage") fail: with Slack's
        ``{"ok": false, "error": error}`` when ``error`` is given, else with HTTP ``status`` (and
        Retry-After); a ``status`` below 400 with a ``delay`` is a slow answer that still succeeds."""
        path = method if method.startswith("/") else API + method
        if error is not None:
            self.error(method, error, times=times)
        else:
            self.fail(path, status=status, times=times, delay=delay, retry_after=retry_after)

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Messages in the order they were posted, with thread_ts and their latest blocks."""
        with self._state:
            return [
                m for m in self._messages if channel is None or m.channel in (channel, channel_id(channel))
            ]

    def clear(self) -> None:
        super().clear()
        with self._state:
            self._messages.clear()
            self._errors.clear()
            self._names.clear()

    # -- routes
    def _post_message(self, request: Captured) -> Answer:
        refused = self._refused(request, API + "chat.postMessage")
        if refused:
            return refused
        params = _params(request)
        if not params.get("channel"):
            return _api_error("channel_not_found")
        if not (params.get("text") or params.get("blocks")):
            return _api_error("no_text")
        asked = str(params["channel"])
        if not _CHANNEL_ID.match(asked):
            with self._state:
                self._names[channel_id(asked)] = asked.lstrip("#")
        message = self._store(
            channel_id(asked),
            params,
            thread_ts=_str_or_none(params.get("thread_ts")),
            via="api",
        )
        body = _shown(message, metadata=True)
        return 200, {"ok": True, "channel": message.channel, "ts": message.ts, "message": body}, {}

    def _conversations_history(self, request: Captured) -> Answer:
        """Top-level messages (and thread parents) newest first, after ``oldest``, a page at a time."""
        refused = self._refused(request, API + "conversations.history") or self._unreadable(request)
        if refused:
            return refused
        args = _arguments(request)
        channel, oldest = str(args.get("channel", "")), float(args.get("oldest") or 0)
        with self._state:
            found = [
                m
                for m in self._messages
                if m.channel == channel and m.thread_ts is None and float(m.ts) > oldest
            ]
        return self._page(args, list(reversed(found)), request)

    def _conversations_replies(self, request: Captured) -> Answer:
        """A thread: its parent first, then the replies after ``oldest``, oldest first, paged."""
        refused = self._refused(request, API + "conversations.replies") or self._unreadable(request)
        if refused:
            return refused
        args = _arguments(request)
        channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
        oldest = float(args.get("oldest") or 0)
        with self._state:
            here = [m for m in self._messages if m.channel == channel]
        parent = [m for m in here if m.ts == ts and m.thread_ts is None]
        replies = [m for m in here if m.thread_ts == ts and float(m.ts) > oldest]
        if not parent:
            return _api_error("thread_not_found")
        return self._page(args, parent + replies, request)

    def _page(self, args: Mapping[str, Any], found: list[SlackMessage], request: Captured) -> Answer:
        start = _from_cursor(str(args.get("cursor") or ""))
        limit = max(1, min(int(args.get("limit") or 100), 999))
        page = found[start : start + limit]
        more = start + limit < len(found)
        metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        body: dict[str, Any] = {
            "ok": True,
            "messages": [_shown(m, metadata=metadata, replies=self._reply_count(m)) for m in page],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": _to_cursor(start + limit) if more else ""},
        }
        return 200, body, {"x-oauth-scopes": self.scopes}

    def _reply_count(self, message: SlackMessage) -> int:
        with self._state:
            return sum(m.channel == message.channel and m.thread_ts == message.ts for m in self._messages)

    def _unreadable(self, request: Captured) -> Answer | None:
        """Slack's answer to a history read the token has no scope for, or that names no channel id."""
        channel = str(_arguments(request).get("channel", ""))
        if not _CHANNEL_ID.match(channel):
            return _api_error("channel_not_found")
        needed = "groups:history" if channel.startswith("G") else "channels:history"
        if needed not in {s.strip() for s in self.scopes.split(",")}:
            body = {"ok": False, "error": "missing_scope", "needed": needed, "provided": self.scopes}
            return 200, body, {"x-oauth-scopes": self.scopes}
        return None

    def _update(self, request: Captured) -> Answer:
        refused = self._refused(request, API + "chat.update")
        if refused:
            return refused
        params = _params(request)
        channel, ts = channel_id(str(params.get("channel", ""))), str(params.get("ts", ""))
        with self._state:
            found = next((m for m in self._messages if m.channel == channel and m.ts == ts), None)
            if found is None:
                return _api_error("message_not_found")
            found.text = str(params.get("text", found.text))
            found.blocks = list(params.get("blocks") or found.blocks)
            found.edits += 1
            text = found.text
        return 200, {"ok": True, "channel": channel, "ts": ts, "text": text}, {}

    def _auth_test(self, request: Captured) -> Answer:
        refused = self._refused(request, API + "auth.test")
        if refused:
            return refused
        body = {"ok": True, "url": self.url + "/", "team": "ecswatch demo", **_BOT}
        return 200, body, {"x-oauth-scopes": self.scopes}

    def _conversations_list(self, request: Captured) -> Answer:
        refused = self._refused(request, API + "conversations.list")
        with self._state:
            known = {**{name: True for name in self._names.values()}, **self.channels}
        found = [_conversation(name, member) for name, member in known.items()]
        body = {"ok": True, "channels": found, "response_metadata": {"next_cursor": ""}}
        return refused or (200, body, {"x-oauth-scopes": self.scopes})

    def _conversations_info(self, request: Captured) -> Answer:
        refused = self._refused(request, API + "conversations.info")
        wanted = (request.query.get("channel") or [str(_params(request).get("channel", ""))])[0]
        found = [_conversation(n, m) for n, m in self.channels.items() if channel_id(n) == wanted]
        body = {"ok": True, "channel": found[0]} if found else {"ok": False, "error": "channel_not_found"}
        return refused or (200, body, {"x-oauth-scopes": self.scopes})

    def _webhook(self, request: Captured) -> Answer:
        scripted = self._take_error(WEBHOOKS) or self._take_error(request.path)
        if scripted is not None:
            return scripted.status, scripted.error.encode(), {}
        params = _params(request)
        if not (params.get("text") or params.get("blocks")):
            return 400, b"no_text", {}
        self._store("webhook", params, thread_ts=None, via="webhook")
        return 200, b"ok", {}

    def _control_fault(self, request: Captured) -> Answer:
        self.fault(**dict(request.json or {}))
        return 200, {"ok": True}, {}

    def _control_clear(self, request: Captured) -> Answer:
        self.clear()
        return 200, {"ok": True}, {}

    # -- helpers
    def _refused(self, request: Captured, path: str) -> Answer | None:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            return _api_error("not_authed")
        if not token.startswith("xox") or (self.valid_tokens is not None and token not in self.valid_tokens):
            return _api_error("invalid_auth")
        scripted = self._take_error(path)
        if scripted is not None:
            return scripted.status, {"ok": False, "error": scripted.error}, {}
        return None

    def _take_error(self, path: str) -> _ScriptedError | None:
        with self._state:
            queue = self._errors.get(path)
            if not queue:
                return None
            scripted = queue[0]
            scripted.times -= 1
            if scripted.times <= 0:
                queue.pop(0)
            return scripted

    def _store(
        self, channel: str, params: Mapping[str, Any], *, thread_ts: str | None, via: str
    ) -> SlackMessage:
        with self._state:
            # Slack's ts is the time it stored the message (microseconds, unique in a channel): a
            # lookup by time (``oldest``) must find what was posted since.
            self._counter = max(self._counter + 1, int(time.time() * 1_000_000))
            seconds, micros = divmod(self._counter, 1_000_000)
            message = SlackMessage(
                channel=channel,
                ts=f"{seconds}.{micros:06d}",
                text=str(params.get("text") or ""),
                blocks=list(params.get("blocks") or []),
                thread_ts=thread_ts,
                via=via,
                metadata=dict(params["metadata"]) if isinstance(params.get("metadata"), dict) else None,
            )
            self._messages.append(message)
            return message


def received(server: CaptureServer) -> list[dict[str, Any]]:
    """What a fake received (control calls left out): path, answer status and body, in order."""
    with server._lock:
        requests = [r for r in server.requests if not r.path.startswith(CONTROL)]
    return [{"path": r.path, "status": r.status, "body": r.body.decode("utf-8", "replace")} for r in requests]


def control(url: str, action: str, payload: Mapping[str, Any] | None = None) -> Any:
    """Drive a fake (Slack or Datadog) over its control API from any process:
    ``control(url, "fault", {"method": "chat.postMessage", "status": 500, "times": 3})``,
    ``control(url, "messages")``, ``control(url, "requests")``, ``control(url, "clear", {})``."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 -- the fake's loopback URL
        url + CONTROL + action, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read() or b"null")


def channel_id(channel: str) -> str:
    """A Slack-looking id for a channel name ("#batch-alerts" -> "C…"), stable across runs; ids pass."""
    if _CHANNEL_ID.match(channel):
        return channel
    digest = hashlib.sha256(channel.lstrip("#").encode()).hexdigest()[:10].upper()
    return "C" + digest


def _params(request: Captured) -> dict[str, Any]:
    """JSON (what slack-sdk sends with blocks) or form-encoded, where blocks arrive as a JSON string."""
    data = request.json if request.body else None
    params: dict[str, Any] = dict(data) if isinstance(data, dict) else {}
    if isinstance(params.get("blocks"), str):
        params["blocks"] = json.loads(params["blocks"])
    return params


def _arguments(request: Captured) -> dict[str, Any]:
    """A Web API call's arguments: the query (slack-sdk sends reads as GET) and the body."""
    found: dict[str, Any] = {name: values[0] for name, values in request.query.items() if values}
    return {**found, **_params(request)}


def _shown(message: SlackMessage, *, metadata: bool, replies: int = 0) -> dict[str, Any]:
    """A message as the Web API shows it; its metadata only when asked for (include_all_metadata)."""
    body: dict[str, Any] = {
        "type": "message",
        **_BOT,
        "text": message.text,
        "ts": message.ts,
        "blocks": message.blocks,
    }
    if message.thread_ts:
        body["thread_ts"] = message.thread_ts
    elif replies:
        body.update(thread_ts=message.ts, reply_count=replies)
    if metadata and message.metadata is not None:
        body["metadata"] = message.metadata
    return body


def _to_cursor(offset: int) -> str:
    return base64.b64encode(f"next:{offset}".encode()).decode()


def _from_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    return int(base64.b64decode(cursor).decode().removeprefix("next:"))


def _conversation(name: str, member: bool) -> dict[str, Any]:
    return {
        "id": channel_id(name),
        "name": name.lstrip("#"),
        "is_channel": True,
        "is_private": False,
        "is_member": member,
    }


def _api_error(error: str) -> Answer:
    return 200, {"ok": False, "error": error}, {}


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


# -- plain-text rendering for the demo ---------------------------------------------------------------


def render(message: SlackMessage | Sequence[Mapping[str, Any]]) -> str:
    """A Block Kit message as a person would read it in a terminal."""
    if isinstance(message, SlackMessage):
        prefix = "  ↳ in thread " + message.thread_ts + "\n" if message.thread_ts else ""
        body = _render_blocks(message.blocks) if message.blocks else _unescape(message.text)
        return prefix + body
    return _render_blocks(message)


def _render_blocks(blocks: Sequence[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for block in blocks:
        out.extend(_render_block(block))
    return "\n".join(out)


def _render_block(block: Mapping[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [_emoji(_text(block.get("text")))]
    if kind == "section":
        lines = _mrkdwn_lines(_text(block.get("text"))) if block.get("text") else []
        for item in block.get("fields") or []:
            label, _, value = _text(item).partition("\n")
            lines.append(f"  {label.strip('*')}: {value}")
        return lines
    if kind == "actions":
        return [f"  [{_text(e.get('text'))}] {e.get('url', '')}".rstrip() for e in block.get("elements", [])]
    if kind == "context":
        return ["  " + " · ".join(_text(e) for e in block.get("elements", []) if e.get("text"))]
    if kind == "divider":
        return ["  " + "─" * 60]
    return [f"  ({kind} block)"]


def _mrkdwn_lines(text: str) -> list[str]:
    """Code blocks indented by four spaces, everything else as written."""
    lines: list[str] = []
    for index, chunk in enumerate(text.split("```")):
        inside = index % 2 == 1
        for line in chunk.strip("\n").split("\n"):
            if inside:
                lines.append("    | " + line)
            elif line.strip():
                lines.append(line)
    return lines


def _text(obj: Any) -> str:
    if isinstance(obj, Mapping):
        return _unescape(str(obj.get("text", "")))
    return _unescape(str(obj or ""))


def _emoji(text: str) -> str:
    for code, char in _EMOJI.items():
        text = text.replace(code, char)
    return text


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
