"""Slack, through slack-sdk: alerts as Block Kit messages, by bot token or by incoming webhook.

A bot token can thread and update messages (storm alerts edit one message as
failures come); a webhook only posts, so threads and updates degrade to plain
posts and no-ops. Either way every Block Kit limit is met by cutting text, never
by failing: an alert that cannot be shown whole is still worth sending.

Slack failures become :class:`~ecswatch.ports.TransientError` (rate limits after
the client's own retries, 5xx, timeouts: redeliver) or
:class:`~ecswatch.ports.DeliveryError` (bad token, unknown channel: fix config).
Messages name Slack's error code and the channel, never the token or the
webhook URL, which are secrets.

Every post carries its alert's key in the message's metadata (event type
``ecswatch_alert``), so that after a timeout the message Slack stored anyway is
found again (:meth:`SlackPoster.find`: ``conversations.history``, or
``conversations.replies`` for a reply, with ``include_all_metadata``, from the
first attempt's time on, a few pages at most). That needs the ``channels:history``
and ``groups:history`` scopes, and a channel id: a channel named by name is
resolved from the id an earlier post answered, else with ``conversations.list``
(``channels:read``, ``groups:read``). Without a scope the lookup is off (logged)
and the alert is posted, since never alerting is worse than alerting twice.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.web import SlackResponse, WebClient
from slack_sdk.webhook import WebhookClient, WebhookResponse

from ecswatch.budget import Budget
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.events.text import cut_middle
from ecswatch.notifications import words
from ecswatch.run import Alert, Link, LogTail, MessageRef

# Block Kit limits (docs.slack.dev/reference/block-kit): characters unless said otherwise.
HEADER_MAX = 150
TEXT_MAX = 3000  # section text, and any text object
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
FIELD_LABEL_MAX = 200  # ours: a label is a word or two, the rest of a field is its value
BUTTON_TEXT_MAX = 75
BUTTON_URL_MAX = 3000
BUTTONS_PER_ACTIONS = 25
CONTEXT_ELEMENTS_MAX = 10
BLOCKS_MAX = 50
#: The longest Slack Retry-After waited out within an invocation; longer ones are left to SQS redelivery.
MAX_RETRY_AFTER_SECONDS = 10.0
#: chat.postMessage truncates ``text`` at 40,000 characters; Slack asks for at most 4,000.
FALLBACK_TEXT_MAX = 4000

#: The metadata event type of every message ecswatch posts; its payload holds the alert's key.
EVENT_TYPE = "ecswatch_alert"
#: A lookup reads at most this many pages of this many messages (Tier 3 methods: 50+ a minute).
LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 200
#: conversations.list pages read to find a channel's id by its name (1,000 channels a page).
CHANNEL_PAGES = 20
#: Answers that turn the lookup off (logged, the alert is posted) rather than fail the item.
_LOOKUP_OFF_CODES = frozenset({"missing_scope", "not_in_channel", "channel_not_found", "thread_not_found"})

logger = Logger(child=True)

ELLIPSIS = "…"
REPLY_PREFIX = "↳ "

#: Slack error codes that say Slack itself is struggling; anything else it answers is our fault.
_TRANSIENT_CODES = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
#: The token is no longer good: the next call resolves it again, since secrets rotate.
_REAUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
#: HTTP statuses a webhook answers when its URL is no longer good (no_service, invalid_token, ...).
_WEBHOOK_GONE = frozenset({401, 403, 404, 410})
_HINTS = {
    "channel_not_found": "check the channel name, and invite the app if the channel is private",
    "not_in_channel": "invite the app to the channel (/invite @app)",
    "is_archived": "the channel is archived; pick another one",
    "channel_is_archived": "the channel is archived; pick another one",
    "invalid_auth": "the token is wrong; update the secret",
    "not_authed": "no token was sent; check the secret",
    "token_revoked": "the token was revoked; install the app again and update the secret",
    "token_expired": "the token expired; update the secret",
    "account_inactive": "the app or its workspace was deactivated; update the secret",
    "missing_scope": "add the chat:write scope to the app and reinstall it",
    "invalid_blocks": "Slack rejected the blocks; this is a bug in ecswatch's rendering",
    "msg_too_long": "Slack rejected the message length; this is a bug in ecswatch's rendering",
    "no_service": "the webhook was removed; create a new one and update the secret",
    "action_prohibited": "an admin restricts this webhook; ask a workspace admin",
}


class SlackPoster:
    """:class:`ecswatch.ports.ChatPoster` over slack-sdk; give exactly one of ``token`` or ``webhook_url``.

    Both are providers (called on first use, not here), so building a poster costs nothing and makes
    no network call. The client is built once and reused; when Slack says the token is no longer
    valid the client is dropped, so the next call asks the provider again and picks up a rotated
    secret. ``base_url`` points the Web API elsewhere (the local fake); webhooks use their own URL.

    With a webhook, Slack gives no message reference: :meth:`post` returns None, a thread reply
    becomes an ordinary message prefixed "↳ ", and :meth:`update` does nothing.
    """

    def __init__(
        self,
        *,
        token: Callable[[], str] | None = None,
        webhook_url: Callable[[], str] | None = None,
        base_url: str | None = None,
        timeout: float = 5.0,
        max_rate_limit_retries: int = 2,
        max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS,
        budget: Budget | None = None,
    ) -> None:
        if (token is None) == (webhook_url is None):
            raise ValueError("SlackPoster needs exactly one of token= or webhook_url=")
        self._token = token
        self._webhook_url = webhook_url
        self._base_url = _api_base(base_url)
        self._timeout = timeout
        self._max_rate_limit_retries = max_rate_limit_retries
        self._max_retry_after = max_retry_after_seconds
        self._budget = budget or Budget()
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        #: Channel ids by the name posts were asked for: a lookup needs the id.
        self._ids: dict[str, str] = {}

    # -- ChatPoster
    def post(
        self, channel: str, alert: Alert, *, thread: MessageRef | None = None, key: str | None = None
    ) -> MessageRef | None:
        if self._token is None:
            self._send_webhook(channel, alert, reply=thread is not None)
            return None
        kwargs: dict[str, Any] = {"thread_ts": thread.ts} if thread is not None else {}
        if key is not None:
            kwargs["metadata"] = {"event_type": EVENT_TYPE, "event_payload": {"key": key}}
        response = self._call(
            "chat.postMessage",
            channel,
            lambda client: client.chat_postMessage(
                channel=thread.channel if thread is not None else channel,
                text=fallback_text(alert),
                blocks=render_blocks(alert),
                unfurl_links=False,
                **kwargs,
            ),
        )
        ref = MessageRef(channel=str(response["channel"]), ts=str(response["ts"]))
        self._ids[channel] = ref.channel
        return ref

    def update(self, ref: MessageRef, alert: Alert) -> None:
        """Replace a message's text and blocks; a no-op with a webhook, which cannot edit."""
        if self._token is None:
            return
        self._call(
            "chat.update",
            ref.channel,
            lambda client: client.chat_update(
                channel=ref.channel, ts=ref.ts, text=fallback_text(alert), blocks=render_blocks(alert)
            ),
        )

    def find(
        self, channel: str, key: str, *, since: datetime, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """The message (or the reply in ``thread``) whose metadata carries ``key``, posted since
        ``since``; None when there is none, with a webhook (nothing to look in), or when the token
        may not look (a missing scope, a channel it cannot read: logged, and the caller posts)."""
        if self._token is None:
            return None
        try:
            where = thread.channel if thread is not None else self._channel_id(channel)
            if where is None:
                logger.warning(words.LOOKUP_OFF, extra={"channel": channel, "why": "channel id unknown"})
                return None
            for message in self._messages(where, since, thread):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == EVENT_TYPE and payload.get("key") == key:
                    return MessageRef(channel=where, ts=str(message["ts"]))
        except _LookupOff as e:
            logger.warning(words.LOOKUP_OFF, extra={"channel": channel, "why": str(e)})
        return None

    def _messages(
        self, channel: str, since: datetime, thread: MessageRef | None
    ) -> Iterator[Mapping[str, Any]]:
        """The channel's messages (or the thread's) since ``since``, page by page, within bounds."""
        method = "conversations.replies" if thread is not None else "conversations.history"
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            if not self._budget.allows(self._timeout):
                raise TransientError(f"Slack {method} in {channel}: no time left in this invocation")
            arguments: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{since.timestamp():.6f}",
                "include_all_metadata": True,
                "limit": LOOKUP_PAGE_SIZE,
                "cursor": cursor,
            }
            if thread is not None:
                arguments["ts"] = thread.ts
            page = self._call(method, channel, partial(_read, arguments=arguments), lookup=True)
            yield from page.get("messages") or []
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "") or None
            if cursor is None:
                return

    def _channel_id(self, channel: str) -> str | None:
        """A channel's id (lookups take no names): as given, as an earlier post answered, or
        from conversations.list."""
        if _is_channel_id(channel):
            return channel
        name = channel.lstrip("#")
        if channel not in self._ids:
            cursor: str | None = None
            for _ in range(CHANNEL_PAGES):
                if not self._budget.allows(self._timeout):
                    raise TransientError(
                        f"Slack conversations.list for {channel}: no time left in this invocation"
                    )
                page = self._call(
                    "conversations.list",
                    channel,
                    partial(_channels, cursor=cursor),
                    lookup=True,
                )
                for found in page.get("channels") or []:
                    if found.get("name") == name:
                        self._ids[channel] = str(found["id"])
                        return self._ids[channel]
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "") or None
                if cursor is None:
                    break
        return self._ids.get(channel)

    # -- Web API
    def _client(self) -> WebClient:
        if self._web is None:
            assert self._token is not None
            self._web = WebClient(
                token=self._token(),
                base_url=self._base_url,
                timeout=self._timeout,  # type: ignore[arg-type]  # urllib takes float seconds
                retry_handlers=self._retry_handlers(),
            )
        return self._web

    def _call(
        self,
        method: str,
        channel: str,
        action: Callable[[WebClient], SlackResponse],
        *,
        lookup: bool = False,
    ) -> SlackResponse:
        client = self._client()
        try:
            return action(client)
        except SlackApiError as e:
            code = _error_code(e.response.data)
            if code in _REAUTH_CODES:
                self._web = None
            if lookup and code in _LOOKUP_OFF_CODES:
                needed = e.response.data.get("needed") if isinstance(e.response.data, dict) else None
                raise _LookupOff(f"{method}: {code}" + (f" (needs {needed})" if needed else "")) from e
            raise _failure(f"Slack {method} to {channel}", code, e.response.status_code) from e
        except (OSError, http.client.HTTPException) as e:
            raise TransientError(f"Slack {method} to {channel}: {type(e).__name__} (no answer)") from e
        except SlackClientError as e:
            raise DeliveryError(f"Slack {method} to {channel}: {type(e).__name__}; check the API URL") from e

    # -- incoming webhook
    def _send_webhook(self, channel: str, alert: Alert, *, reply: bool) -> None:
        if self._hook is None:
            assert self._webhook_url is not None
            self._hook = WebhookClient(
                url=self._webhook_url(),
                timeout=self._timeout,  # type: ignore[arg-type]  # urllib takes float seconds
                retry_handlers=self._retry_handlers(),
            )
        prefix = REPLY_PREFIX if reply else ""
        where = f"Slack webhook (asked for {channel})"
        try:
            response = self._hook.send(
                text=fallback_text(alert, prefix=prefix), blocks=_render(alert, prefix=prefix)
            )
        except (OSError, http.client.HTTPException) as e:
            raise TransientError(f"{where}: {type(e).__name__} (no answer)") from e
        except SlackClientError as e:
            raise DeliveryError(f"{where}: {type(e).__name__}; check the webhook URL") from e
        if response.status_code in _WEBHOOK_GONE:
            self._hook = None  # a removed or rotated webhook: ask the provider again next time
        _check_webhook(response, where)

    def _retry_handlers(self) -> list[RetryHandler]:
        return [
            BoundedRateLimitRetryHandler(
                max_retry_count=self._max_rate_limit_retries,
                max_wait_seconds=self._max_retry_after,
                budget=self._budget,
            ),
            ConnectionErrorRetryHandler(),
            ServerErrorRetryHandler(),
        ]


class _LookupOff(Exception):
    """Slack will not let this token look (a missing scope, a channel it cannot read): not a failure
    of the alert, which is posted rather than held."""


def _read(client: WebClient, arguments: dict[str, Any]) -> SlackResponse:
    """One page of a thread (``ts`` given: conversations.replies) or of a channel's history."""
    if "ts" in arguments:
        return client.conversations_replies(**arguments)
    return client.conversations_history(**arguments)


def _channels(client: WebClient, cursor: str | None) -> SlackResponse:
    return client.conversations_list(
        types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
    )


def _is_channel_id(channel: str) -> bool:
    return channel[:1] in ("C", "G", "D") and channel[1:].isalnum() and channel.isupper()


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, which sleeps Retry-After however long it is, bounded twice over.

    A Retry-After above ``max_wait_seconds``, or longer than the invocation has left, is not
    waited out: the 429 stands, the call raises TransientError and SQS redelivers the message
    after its visibility timeout, instead of the function sleeping into its own timeout (which
    would return every record of the batch, the ones already alerted included).
    """

    def __init__(self, *, max_retry_count: int, max_wait_seconds: float, budget: Budget) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._max_wait = max_wait_seconds
        self._budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = _retry_after(response) + 1.0  # the SDK adds up to a second of jitter
        return wait <= self._max_wait and self._budget.allows(wait)


def _retry_after(response: HttpResponse | None) -> float:
    """Retry-After in seconds (Slack sends an integer); 1 when it is missing or unreadable."""
    headers = response.headers if response is not None else {}
    for name, values in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(values[0])
            except (IndexError, ValueError):
                return 1.0
    return 1.0


def _api_base(base_url: str | None) -> str:
    if base_url is None:
        return WebClient.BASE_URL
    base = base_url.rstrip("/")
    return base + "/" if base.endswith("/api") else base + "/api/"


def _error_code(data: object) -> str:
    code = data.get("error") if isinstance(data, dict) else None
    return str(code)[:100] if code else "unknown_error"


def _failure(where: str, code: str, status: int) -> Exception:
    """Which of our two errors a Slack answer is; the message says what happened and what to fix."""
    if status == 429 or status >= 500 or code in _TRANSIENT_CODES:
        return TransientError(f"{where} failed: {code} (HTTP {status}), after the client's retries")
    hint = _HINTS.get(code)
    return DeliveryError(f"{where} failed: {code} (HTTP {status})" + (f"; {hint}" if hint else ""))


def _check_webhook(response: WebhookResponse, where: str) -> None:
    """Webhooks answer 200 "ok", or an HTTP error with the error code as plain text; they never raise."""
    if response.status_code == 200:
        return
    body = (response.body or "").strip()
    code = body if body and len(body) <= 100 and " " not in body else "unknown_error"
    raise _failure(where, code, response.status_code)


# -- rendering --------------------------------------------------------------------------------------


def fallback_text(alert: Alert, *, prefix: str = "") -> str:
    """The notification text: shown by clients without blocks and in push notifications."""
    return _cut(_escape(prefix + alert.fallback_text), FALLBACK_TEXT_MAX)


def render_blocks(alert: Alert) -> list[Block]:
    """The alert as Block Kit: header, cause, fields, log tail, link buttons, context.

    Every limit is met by cutting (with "…") or by moving what does not fit into the context
    line, so an absurd alert still posts and reads sensibly.
    """
    return _render(alert, prefix="")


def _render(alert: Alert, *, prefix: str) -> list[Block]:
    notes: list[str] = []
    blocks: list[Block] = [_header(prefix, alert)]
    if alert.cause.strip():
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_cause_text(alert.cause))))
    if alert.fields:
        blocks.append(SectionBlock(fields=_fields(alert.fields, notes)))
    tail = _tail_block(alert.log_tail, notes)
    if tail is not None:
        blocks.append(tail)
    buttons = _buttons(alert.links, notes)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    context = _context([alert.context, *notes])
    if context is not None:
        blocks += [DividerBlock(), context]
    return blocks[:BLOCKS_MAX]


def _cause_text(cause: str) -> str:
    """The cause within one section, cut in the middle so AWS's advice at its end stays; the budget
    leaves room for what escaping adds (``&`` becomes ``&amp;``)."""
    growth = len(_escape(cause)) - len(cause)
    return _cut(_escape(cut_middle(cause, TEXT_MAX - growth)), TEXT_MAX)


def _header(prefix: str, alert: Alert) -> HeaderBlock:
    title = alert.title.strip() or alert.job or "ecswatch alert"
    text = prefix + " ".join(part for part in (alert.icon, title) if part)
    return HeaderBlock(text=PlainTextObject(text=cut_middle(text, HEADER_MAX), emoji=True))


def _fields(fields: Sequence[tuple[str, str]], notes: list[str]) -> list[MarkdownTextObject]:
    shown = fields[:FIELDS_PER_SECTION]
    if len(fields) > len(shown):
        notes.append(f"{len(fields) - len(shown)} more fields not shown")
    return [_field(label, value) for label, value in shown]


def _field(label: str, value: str) -> MarkdownTextObject:
    """'*Label*\nvalue'; each part cut on its own so a long label cannot swallow the closing '*'."""
    heading = f"*{_cut(_escape(_one_line(label)) or '-', FIELD_LABEL_MAX)}*\n"
    return MarkdownTextObject(text=heading + _cut(_escape(value) or "-", FIELD_MAX - len(heading)))


def _tail_block(tail: LogTail | None, notes: list[str]) -> SectionBlock | None:
    if tail is None:
        return None
    if tail.note:
        notes.append(f"log tail: {tail.note}")
    if not tail.lines:
        return None
    return SectionBlock(text=MarkdownTextObject(text=_code_block(tail)))


def _code_block(tail: LogTail) -> str:
    """The newest lines that fit one section, oldest first, with a first line saying what was cut."""
    fence_open, fence_close = "```\n", "\n```"
    lines = [_escape(line.replace("```", "`\u200b`\u200b`")) for line in tail.lines]
    note_room = len(f"{ELLIPSIS} {len(lines)} earlier lines cut\n")
    budget = TEXT_MAX - len(fence_open) - len(fence_close) - note_room
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = len(line) + (1 if kept else 0)
        if used + cost > budget:
            if not kept:  # one huge newest line: show its start rather than nothing
                kept.append(_cut(line, budget))
            break
        kept.append(line)
        used += cost
    kept.reverse()
    cut = len(lines) - len(kept)
    if cut:
        kept.insert(0, f"{ELLIPSIS} {cut} earlier lines cut")
    elif tail.truncated:
        kept.insert(0, f"{ELLIPSIS} cut to fit")
    return fence_open + "\n".join(kept) + fence_close


def _buttons(links: Sequence[Link], notes: list[str]) -> list[ButtonElement]:
    buttons: list[ButtonElement] = []
    too_long = [link.label for link in links if len(link.url) > BUTTON_URL_MAX]
    usable = [link for link in links if len(link.url) <= BUTTON_URL_MAX and link.url]
    for index, link in enumerate(usable[:BUTTONS_PER_ACTIONS]):
        label = _cut(_one_line(link.label).strip() or "Open", BUTTON_TEXT_MAX)
        buttons.append(ButtonElement(text=label, url=link.url, action_id=f"link-{index}"))
    if too_long:
        notes.append("links too long for Slack: " + ", ".join(_escape(label) for label in too_long))
    if len(usable) > BUTTONS_PER_ACTIONS:
        notes.append(f"{len(usable) - BUTTONS_PER_ACTIONS} more links not shown")
    return buttons


def _context(texts: Sequence[str]) -> ContextBlock | None:
    elements = [MarkdownTextObject(text=_cut(_escape(text), TEXT_MAX)) for text in texts if text.strip()][
        :CONTEXT_ELEMENTS_MAX
    ]
    return ContextBlock(elements=elements) if elements else None


def _escape(text: str) -> str:
    """Slack's three control characters; unescaped, a log line with "<!channel>" would ping everyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in "…" when cut, never half an ``&amp;``-style entity."""
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    amp = head.rfind("&", max(0, len(head) - 5))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + ELLIPSIS
