"""`ecswatch doctor`'s Slack checks: the stored token works (``auth.test``), and the bot can post in each
channel the jobs name.

A bot posts in a channel it is a member of (``chat:write``), or in any public channel with
``chat:write.public``. Membership is read from ``conversations.info`` for a channel id and from
``conversations.list`` for a name (names cannot be looked up one by one); the token's scopes from the
``x-oauth-scopes`` header Slack sends with every Web API answer. Without ``channels:history`` and
``groups:history`` the function cannot find a post Slack stored after the client's timeout, so such
a timeout may post an alert twice: a warning, not a failure (alerts still go out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse, WebClient

from ecswatch.cli.checks import Check
from ecswatch.notifications import words

PUBLIC_SCOPE = "chat:write.public"
#: What the lookup after a Slack timeout needs (conversations.history and .replies).
HISTORY_SCOPES = ("channels:history", "groups:history")
#: conversations.list returns at most 1,000 channels a page; this many pages is 200,000 channels.
MAX_PAGES = 200
_ID_PREFIXES = ("C", "G", "D")


def slack_checks(token: str, reference: str, base_url: str | None, channels: Sequence[str]) -> list[Check]:
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=10)
    try:
        who = client.auth_test()
    except SlackApiError as e:
        return [
            Check(
                False,
                "Slack token",
                f"auth.test: {_error(e)}",
                f"store a valid bot token (xoxb-...) in {reference}: reinstall the app if it was revoked",
            )
        ]
    except (SlackClientError, OSError) as e:
        return [Check(False, "Slack token", f"cannot reach Slack: {e}", "check the network")]
    bot = str(who.get("user") or "the bot")
    checks = [Check(True, "Slack token", f"bot @{bot} in {who.get('team')}")]
    channel_checks, scopes = _channel_checks(client, bot, channels)
    return [*checks, *channel_checks, *_history_scopes(scopes | _scopes(who))]


def _history_scopes(scopes: set[str]) -> list[Check]:
    """A warning, only when the token cannot read history: a post timed out may then show twice."""
    missing = [scope for scope in HISTORY_SCOPES if scope not in scopes]
    if not scopes or not missing:  # no scopes named (nothing to say), or all there
        return []
    return [
        Check(True, "Slack history scopes", "warning: " + words.history_scopes_missing(", ".join(missing)))
    ]


def _channel_checks(client: WebClient, bot: str, channels: Sequence[str]) -> tuple[list[Check], set[str]]:
    by_name: dict[str, Mapping[str, Any]] = {}
    scopes: set[str] = set()
    names = [c for c in channels if not _is_id(c)]
    try:
        if names:
            by_name, scopes = _all_channels(client)
        found = {c: by_name.get(c.lstrip("#")) for c in names}
        for channel in channels:
            if _is_id(channel):
                answer = _info(client, channel)
                found[channel], scopes = answer[0], scopes | answer[1]
    except SlackApiError as e:
        needed = e.response.get("needed") or "channels:read, groups:read"
        failed = Check(
            False,
            "Slack channels",
            f"cannot list channels: {_error(e)}",
            f"add {needed} to the app's scopes, or name channels by id in jobs.yaml",
        )
        return [failed], _scopes(e.response)
    return [_can_post(channel, found.get(channel), bot, scopes) for channel in channels], scopes


def _can_post(channel: str, info: Mapping[str, Any] | None, bot: str, scopes: set[str]) -> Check:
    name = f"Slack {channel}"
    if info is None:
        return Check(
            False,
            name,
            "no such channel (or a private one the bot is not in)",
            "create it and invite the bot, or correct slack_channel in jobs.yaml",
        )
    if info.get("is_member"):
        return Check(True, name, "the bot is a member")
    if not info.get("is_private") and PUBLIC_SCOPE in scopes:
        return Check(True, name, f"public, and the token has {PUBLIC_SCOPE}")
    return Check(
        False,
        name,
        "the bot is not a member"
        + ("" if info.get("is_private") else f" and the token lacks {PUBLIC_SCOPE}"),
        f"/invite @{bot} in {channel}"
        + ("" if info.get("is_private") else f", or add the {PUBLIC_SCOPE} scope"),
    )


def _all_channels(client: WebClient) -> tuple[dict[str, Mapping[str, Any]], set[str]]:
    found: dict[str, Mapping[str, Any]] = {}
    scopes: set[str] = set()
    cursor = ""
    for _ in range(MAX_PAGES):
        page = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor or None
        )
        scopes |= _scopes(page)
        channels: list[Mapping[str, Any]] = page.get("channels") or []
        found.update({str(c["name"]): c for c in channels})
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    return found, scopes


def _info(client: WebClient, channel: str) -> tuple[Mapping[str, Any] | None, set[str]]:
    try:
        answer = client.conversations_info(channel=channel)
    except SlackApiError as e:
        if e.response.get("error") == "channel_not_found":
            return None, _scopes(e.response)
        raise
    return answer.get("channel"), _scopes(answer)


def _scopes(response: SlackResponse) -> set[str]:
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("x-oauth-scopes") or ""
    text = value[0] if isinstance(value, list) else str(value)
    return {s.strip() for s in text.split(",") if s.strip()}


def _is_id(channel: str) -> bool:
    return channel[:1] in _ID_PREFIXES and channel[1:].isalnum() and channel.isupper()


def _error(error: SlackApiError) -> str:
    return str(error.response.get("error") or error)
