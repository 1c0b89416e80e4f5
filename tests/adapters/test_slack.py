"""Slack alerts: the real slack-sdk talking HTTP to a local fake Slack, and Block Kit within every limit.

What is asserted is what went over the wire (``FakeSlack`` records each request), so
retries, timeouts and error answers are slack-sdk's real behaviour, not a mock's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from msgspec.structs import replace

from ecswatch.adapters import slack as slack_module
from ecswatch.adapters.slack import (
    BLOCKS_MAX,
    BUTTON_TEXT_MAX,
    BUTTON_URL_MAX,
    EVENT_TYPE,
    FALLBACK_TEXT_MAX,
    FIELD_MAX,
    HEADER_MAX,
    TEXT_MAX,
    SlackPoster,
    render_blocks,
)
from ecswatch.budget import Budget
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.notifications.alerts import alert_for
from ecswatch.run import Alert, Link, LogTail, MessageRef, RunReport
from local.fake_slack import FakeSlack, channel_id, render
from tests.fakes import FixedLogs, SampleReport

pytestmark = pytest.mark.offline

APPROVED = Path(__file__).parents[1] / "approved"
CHANNEL = "#batch-alerts"
TOKEN = "xoxb-test-token-1234567890"
POST = "/api/chat.postMessage"

LOG_LINES = (
    "2025-03-04T05:41:10Z INFO exporting invoices for 2025-03-03",
    "2025-03-04T05:41:12Z INFO connecting to postgres://export:[REDACTED]@db.internal:5432/billing",
    "2025-03-04T05:41:15Z ERROR row 1842: currency <EUR> & amount missing",
    "2025-03-04T05:41:15Z ERROR export failed, exiting with status 2",
)


# -- fixtures and helpers ---------------------------------------------------------------------------


class CountingToken:
    """A secret provider that counts how often it is asked, answering from a list (rotation)."""

    def __init__(self, *values: str) -> None:
        self.values = list(values) or [TOKEN]
        self.calls = 0

    def __call__(self) -> str:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack().running() as server:
        yield server


@pytest.fixture
def report(sample_report: SampleReport) -> RunReport:
    """invoice-export exited 2 on Fargate, with a seeded task definition and a four-line log tail (already
    redacted, as the pipeline's reader would give it)."""
    return sample_report("stopped-nonzero-exit", logs=FixedLogs(LOG_LINES))


@pytest.fixture
def alert(report: RunReport) -> Alert:
    return alert_for(report)


def poster(fake: FakeSlack, **kwargs: Any) -> SlackPoster:
    return SlackPoster(token=kwargs.pop("token", lambda: TOKEN), base_url=fake.url, **kwargs)


def absurd_alert(alert: Alert) -> Alert:
    """Every part far beyond Slack's limits at once."""
    return replace(
        alert,
        title="T" * 5000,
        cause="cause " * 20_000,
        fields=tuple((f"Label {i} " + "l" * 3000, "v" * 5000) for i in range(40)),
        links=tuple(
            Link(
                "a very long button label " * 10, "https://example.com/" + "x" * (4000 if i % 3 == 0 else 100)
            )
            for i in range(30)
        ),
        log_tail=LogTail(lines=tuple(f"line {i:05d} " + "y" * 90 for i in range(1000)), note="x" * 9000),
        context="c" * 10_000,
    )


# -- what is posted ---------------------------------------------------------------------------------


def test_post_sends_channel_fallback_text_and_blocks_exactly_as_approved(
    fake: FakeSlack, alert: Alert
) -> None:
    # given an alert for a failed run with a log tail
    # when it is posted with a bot token
    poster(fake).post(CHANNEL, alert)

    # then the request body is the approved payload (nothing in it is volatile: no block ids, no clock)
    (request,) = fake.calls(POST)
    approved = json.loads((APPROVED / "slack_post_invoice_export_failed.json").read_text())
    assert request.json == approved


def test_post_authenticates_with_the_bot_token_as_bearer(fake: FakeSlack, alert: Alert) -> None:
    poster(fake).post(CHANNEL, alert)

    assert fake.calls(POST)[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_post_returns_where_slack_put_the_message(fake: FakeSlack, alert: Alert) -> None:
    ref = poster(fake).post(CHANNEL, alert)

    assert ref == MessageRef(channel=channel_id(CHANNEL), ts=fake.messages()[0].ts)


def test_thread_reply_carries_thread_ts_of_the_parent(fake: FakeSlack, alert: Alert) -> None:
    # given a posted parent message
    slack = poster(fake)
    parent = slack.post(CHANNEL, alert)
    assert parent is not None

    # when a reply is posted in its thread
    reply = slack.post(CHANNEL, alert, thread=parent)

    # then the request names the parent's channel and ts, and Slack shows a thread reply
    body = fake.calls(POST)[1].json
    assert (body["channel"], body["thread_ts"]) == (parent.channel, parent.ts)
    assert reply is not None
    assert [m.thread_ts for m in fake.messages()] == [None, parent.ts]


def test_update_replaces_the_same_message_through_chat_update(fake: FakeSlack, alert: Alert) -> None:
    # given a posted message
    slack = poster(fake)
    ref = slack.post(CHANNEL, alert)
    assert ref is not None

    # when it is updated with a newer alert
    slack.update(ref, replace(alert, title="invoice-export failing: 3 failed runs"))

    # then chat.update hit the same ts, and the channel still holds one message, now edited
    (request,) = fake.calls("/api/chat.update")
    assert (request.json["channel"], request.json["ts"]) == (ref.channel, ref.ts)
    (message,) = fake.messages()
    assert message.edits == 1
    assert "3 failed runs" in message.blocks[0]["text"]["text"]


# -- retries and failures ---------------------------------------------------------------------------


def test_rate_limit_once_is_waited_out_and_retried(fake: FakeSlack, alert: Alert) -> None:
    # given Slack answers 429 with Retry-After: 1 once
    fake.fail(POST, status=429, retry_after=1, body={"ok": False, "error": "ratelimited"})

    # when an alert is posted
    started = time.monotonic()
    ref = poster(fake).post(CHANNEL, alert)

    # then the client waited the second and the second try succeeded
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in fake.calls(POST)] == [429, 200]
    assert ref is not None


def test_rate_limit_beyond_the_retries_is_transient(fake: FakeSlack, alert: Alert) -> None:
    # given Slack keeps answering 429 (Retry-After: 0 keeps the test quick)
    fake.fail(POST, status=429, retry_after=0, times=10, body={"ok": False, "error": "ratelimited"})

    # when an alert is posted with one retry allowed
    with pytest.raises(TransientError, match="ratelimited"):
        poster(fake, max_rate_limit_retries=1).post(CHANNEL, alert)

    # then there was the first try and exactly one retry
    assert len(fake.calls(POST)) == 2


def test_server_error_is_retried_then_transient(fake: FakeSlack, alert: Alert) -> None:
    fake.fail(POST, status=500, times=10)

    with pytest.raises(TransientError, match="HTTP 500"):
        poster(fake).post(CHANNEL, alert)

    assert len(fake.calls(POST)) == 2


def test_server_error_once_is_retried_and_succeeds(fake: FakeSlack, alert: Alert) -> None:
    fake.fail(POST, status=503)

    ref = poster(fake).post(CHANNEL, alert)

    assert ref is not None
    assert [r.status for r in fake.calls(POST)] == [503, 200]


def test_answer_slower_than_the_timeout_is_transient(fake: FakeSlack, alert: Alert) -> None:
    # given Slack takes 2 s to answer and the poster waits 0.5 s
    fake.fail(POST, status=200, delay=2.0)

    with pytest.raises(TransientError, match="no answer"):
        poster(fake, timeout=0.5).post(CHANNEL, alert)


def test_nobody_listening_is_transient(alert: Alert) -> None:
    # given a fake that has been stopped, so its port refuses connections
    with FakeSlack().running() as gone:
        url = gone.url

    with pytest.raises(TransientError, match="no answer"):
        SlackPoster(token=lambda: TOKEN, base_url=url).post(CHANNEL, alert)


def test_unknown_channel_is_a_delivery_error_naming_code_and_channel_not_token(
    fake: FakeSlack, alert: Alert
) -> None:
    fake.error("chat.postMessage", "channel_not_found")

    with pytest.raises(DeliveryError) as raised:
        poster(fake).post("#no-such-channel", alert)

    message = str(raised.value)
    assert "channel_not_found" in message
    assert "#no-such-channel" in message
    assert TOKEN not in message


def test_a_delivery_error_is_not_retried(fake: FakeSlack, alert: Alert) -> None:
    fake.error("chat.postMessage", "not_in_channel")

    with pytest.raises(DeliveryError, match="invite the app"):
        poster(fake).post(CHANNEL, alert)

    assert len(fake.calls(POST)) == 1


def test_slack_fatal_error_answer_is_transient(fake: FakeSlack, alert: Alert) -> None:
    fake.error("chat.postMessage", "fatal_error")

    with pytest.raises(TransientError, match="fatal_error"):
        poster(fake).post(CHANNEL, alert)


# -- the client and its secret ----------------------------------------------------------------------


def test_building_a_poster_resolves_no_secret_and_calls_nobody(fake: FakeSlack) -> None:
    token = CountingToken()

    poster(fake, token=token)

    assert token.calls == 0
    assert fake.requests == []


def test_the_client_is_built_once_and_reused(fake: FakeSlack, alert: Alert) -> None:
    token = CountingToken()
    slack = poster(fake, token=token)

    slack.post(CHANNEL, alert)
    slack.post(CHANNEL, alert)

    assert token.calls == 1


def test_invalid_auth_drops_the_client_so_a_rotated_token_is_picked_up(fake: FakeSlack, alert: Alert) -> None:
    # given Slack only accepts the new token, and the secret store still had the old one at first
    fake.valid_tokens = {"xoxb-new"}
    token = CountingToken("xoxb-old", "xoxb-new")
    slack = poster(fake, token=token)

    # when the first post is refused
    with pytest.raises(DeliveryError, match="invalid_auth"):
        slack.post(CHANNEL, alert)

    # then the next post asks for the token again and gets through
    assert slack.post(CHANNEL, alert) is not None
    assert token.calls == 2


def test_exactly_one_of_token_or_webhook_url_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SlackPoster()
    with pytest.raises(ValueError, match="exactly one"):
        SlackPoster(token=lambda: TOKEN, webhook_url=lambda: "https://hooks.slack.com/services/T/B/X")


# -- incoming webhooks ------------------------------------------------------------------------------


def test_webhook_posts_text_and_blocks_and_returns_no_ref(fake: FakeSlack, alert: Alert) -> None:
    ref = SlackPoster(webhook_url=lambda: fake.webhook_url).post(CHANNEL, alert)

    assert ref is None
    (request,) = fake.calls("/services/T0ECSWATCH/B0ECSWATCH/fakewebhooksecret")
    assert request.json["text"] == alert.fallback_text
    assert request.json["blocks"][0]["type"] == "header"


def test_webhook_thread_reply_is_a_plain_message_marked_as_a_reply(fake: FakeSlack, alert: Alert) -> None:
    parent = MessageRef("C0PARENT00", "1700000000.000100")

    SlackPoster(webhook_url=lambda: fake.webhook_url).post(CHANNEL, alert, thread=parent)

    (message,) = fake.messages()
    assert message.thread_ts is None
    assert message.text.startswith("↳ ")
    assert message.blocks[0]["text"]["text"].startswith("↳ ")


def test_webhook_update_sends_nothing(fake: FakeSlack, alert: Alert) -> None:
    SlackPoster(webhook_url=lambda: fake.webhook_url).update(MessageRef("C0PARENT00", "1.2"), alert)

    assert fake.requests == []


def test_webhook_error_status_is_a_delivery_error_without_the_url(fake: FakeSlack, alert: Alert) -> None:
    fake.error("/services/", "channel_is_archived", status=410)

    with pytest.raises(DeliveryError, match="channel_is_archived") as raised:
        SlackPoster(webhook_url=lambda: fake.webhook_url).post(CHANNEL, alert)

    assert "fakewebhooksecret" not in str(raised.value)


def test_removed_webhook_is_resolved_again_on_the_next_post(fake: FakeSlack, alert: Alert) -> None:
    # given the stored webhook was removed (Slack answers 404 no_service) and then replaced
    fake.error("/services/", "no_service", status=404)
    url = CountingToken(fake.webhook_url)
    slack = SlackPoster(webhook_url=url)

    with pytest.raises(DeliveryError, match="no_service"):
        slack.post(CHANNEL, alert)
    slack.post(CHANNEL, alert)

    # then the second post asked the provider for the URL again
    assert url.calls == 2
    assert len(fake.messages()) == 1


def test_webhook_server_error_is_transient(fake: FakeSlack, alert: Alert) -> None:
    fake.fail("/services/T0ECSWATCH/B0ECSWATCH/fakewebhooksecret", status=500, times=10, body=b"rollup_error")

    with pytest.raises(TransientError, match="rollup_error"):
        SlackPoster(webhook_url=lambda: fake.webhook_url).post(CHANNEL, alert)


# -- Block Kit within Slack's limits ----------------------------------------------------------------


def test_absurd_alert_still_renders_within_every_limit(alert: Alert) -> None:
    # given an alert with every part far too long
    blocks = render_blocks(absurd_alert(alert))

    # then slack-sdk's own validation passes (to_dict raises on a violated limit) ...
    payload = [block.to_dict() for block in blocks]
    # ... and so do the limits it does not check
    assert len(payload) <= BLOCKS_MAX
    header = payload[0]["text"]["text"]
    assert len(header) <= HEADER_MAX
    assert " … " in header  # cut in the middle: a title's end (why no retry follows) stays
    for block in payload:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= TEXT_MAX
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= FIELD_MAX for f in block.get("fields", []))
        if block["type"] == "actions":
            assert all(len(b["text"]["text"]) <= BUTTON_TEXT_MAX for b in block["elements"])
            assert all(len(b["url"]) <= BUTTON_URL_MAX for b in block["elements"])
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= TEXT_MAX for e in block["elements"])


def test_absurd_alert_posts_through_slack_sdk(fake: FakeSlack, alert: Alert) -> None:
    poster(fake).post(CHANNEL, absurd_alert(alert))

    body = fake.calls(POST)[0].json
    assert len(body["text"]) <= FALLBACK_TEXT_MAX
    assert len(body["blocks"]) <= BLOCKS_MAX


def test_long_tail_keeps_the_newest_lines_and_says_how_many_were_cut(alert: Alert) -> None:
    lines = tuple(f"line {i:04d} " + "z" * 80 for i in range(200))

    blocks = render_blocks(replace(alert, log_tail=LogTail(lines=lines)))

    code = next(b.to_dict()["text"]["text"] for b in blocks if "```" in str(b.to_dict()))
    shown = code.strip("`\n").split("\n")
    assert shown[-1] == lines[-1]
    assert shown[0] == f"… {200 - (len(shown) - 1)} earlier lines cut"
    assert len(code) <= TEXT_MAX


def test_log_lines_cannot_ping_the_channel_or_close_the_code_block(alert: Alert) -> None:
    tail = LogTail(lines=("<!channel> deploy broke", "``` injected"))

    blocks = render_blocks(replace(alert, log_tail=tail))

    code = next(b.to_dict()["text"]["text"] for b in blocks if "deploy broke" in str(b.to_dict()))
    assert "&lt;!channel&gt; deploy broke" in code
    assert code.count("```") == 2


def test_tail_note_is_shown_in_the_context_when_there_are_no_lines(alert: Alert) -> None:
    tail = LogTail(note="log stream not found (the container may never have started)")

    blocks = [b.to_dict() for b in render_blocks(replace(alert, log_tail=tail))]

    context = blocks[-1]
    assert context["type"] == "context"
    assert any("log stream not found" in e["text"] for e in context["elements"])
    assert not any("```" in json.dumps(b) for b in blocks)


def test_link_too_long_for_a_button_is_named_in_the_context(alert: Alert) -> None:
    links = (
        Link("ECS task", "https://example.com/task"),
        Link("Logs Insights", "https://e.com/" + "q" * 3100),
    )

    blocks = [b.to_dict() for b in render_blocks(replace(alert, links=links))]

    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == ["ECS task"]
    assert "Logs Insights" in blocks[-1]["elements"][-1]["text"]


# -- the fake itself --------------------------------------------------------------------------------


def test_fake_accepts_form_encoded_posts_with_blocks_as_a_json_string(fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]

    answer = requests.post(
        fake.url + POST,
        data={"channel": CHANNEL, "text": "hello", "blocks": json.dumps(blocks)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()

    assert answer["ok"] is True
    assert fake.messages()[0].blocks == blocks


def test_fake_renders_a_message_as_plain_text(fake: FakeSlack, alert: Alert) -> None:
    poster(fake).post(CHANNEL, alert)

    text = render(fake.messages()[0])

    assert text.splitlines()[0] == "❌ invoice-export failed"
    assert "  Exit code: 2" in text
    assert "    | 2025-03-04T05:41:15Z ERROR row 1842: currency <EUR> & amount missing" in text
    assert f"[ECS task] {alert.links[1].url}" in text


# -- waiting is bounded: Retry-After is honoured up to a cap, and only inside the invocation's time


def test_a_retry_after_beyond_the_cap_is_not_waited_out_and_the_item_is_redelivered(
    fake: FakeSlack, alert: Alert
) -> None:
    # given Slack asks for 25 s (as it may on a busy channel), more than the 10 s cap
    fake.fail(POST, status=429, retry_after=25, times=10, body={"ok": False, "error": "ratelimited"})

    # when an alert is posted
    with pytest.raises(TransientError, match="ratelimited"):
        poster(fake).post(CHANNEL, alert)

    # then it did not sleep and retry: SQS redelivers the message after its visibility timeout
    assert [r.status for r in fake.calls(POST)] == [429]


def test_a_retry_after_longer_than_the_time_left_is_not_waited_out(fake: FakeSlack, alert: Alert) -> None:
    # given an invocation with 6 s left, of which 5 s are kept back to answer SQS
    budget = Budget()
    budget.start(RemainingTime(6_000))
    fake.fail(POST, status=429, retry_after=2, times=10, body={"ok": False, "error": "ratelimited"})

    with pytest.raises(TransientError, match="ratelimited"):
        poster(fake, budget=budget).post(CHANNEL, alert)

    assert [r.status for r in fake.calls(POST)] == [429]


def test_a_short_retry_after_inside_the_budget_is_still_honoured(fake: FakeSlack, alert: Alert) -> None:
    budget = Budget()
    budget.start(RemainingTime(60_000))
    fake.fail(POST, status=429, retry_after=0, body={"ok": False, "error": "ratelimited"})

    assert poster(fake, budget=budget).post(CHANNEL, alert) is not None
    assert [r.status for r in fake.calls(POST)] == [429, 200]


class RemainingTime:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


# -- finding a post again after a timeout -----------------------------------------------------------

HISTORY = "/api/conversations.history"
REPLIES = "/api/conversations.replies"
KEY = "slack#arn:aws:ecs:eu-west-1:123456789012:task/batch/aaaa#stopped"


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_a_post_carries_its_alerts_key_in_the_messages_metadata(fake: FakeSlack, alert: Alert) -> None:
    poster(fake).post(CHANNEL, alert, key=KEY)

    assert fake.calls(POST)[0].json["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}
    assert fake.messages()[0].metadata == {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}


def test_a_post_stored_after_the_client_timed_out_is_found_by_its_key(fake: FakeSlack, alert: Alert) -> None:
    """The message Slack stored while the client gave up is found in the channel's history, by the
    key in its metadata, among other messages; the channel's name is resolved to its id first."""
    since = datetime.now(UTC) - timedelta(seconds=60)
    fake.fail(POST, status=200, delay=1.0)
    with pytest.raises(TransientError, match="no answer"):
        poster(fake, timeout=0.3).post(CHANNEL, alert, key=KEY)
    slack = poster(fake)  # a new container: no channel id remembered
    slack.post(CHANNEL, alert, key="another alert")
    time.sleep(1.0)

    found = slack.find(CHANNEL, KEY, since=since)

    stored = [m for m in fake.messages() if m.metadata and m.metadata["event_payload"]["key"] == KEY]
    assert found == MessageRef(channel=channel_id(CHANNEL), ts=stored[0].ts)
    [call] = fake.calls(HISTORY)
    assert call.json["channel"] == channel_id(CHANNEL)  # slack-sdk sends the arguments as a form
    assert call.json["include_all_metadata"] == "1"
    assert float(call.json["oldest"]) == pytest.approx(since.timestamp())


def test_a_cold_poster_resolves_a_channel_name_with_conversations_list(fake: FakeSlack, alert: Alert) -> None:
    poster(fake).post(CHANNEL, alert, key=KEY)
    cold = poster(fake)

    assert cold.find(CHANNEL, KEY, since=an_hour_ago()) is not None
    assert len(fake.calls("/api/conversations.list")) == 1


def test_a_cold_poster_with_no_time_left_does_not_start_listing_channels(
    fake: FakeSlack, alert: Alert
) -> None:
    """Each conversations.list page may take the client's whole timeout: with less than that left,
    the lookup fails for now (the item is redelivered) instead of running into the Lambda timeout."""
    poster(fake).post(CHANNEL, alert, key=KEY)
    budget = Budget()
    budget.start(RemainingTime(6_000))  # 1 s usable: less than the 5 s timeout of one page

    with pytest.raises(TransientError, match="no time left"):
        poster(fake, budget=budget).find(CHANNEL, KEY, since=an_hour_ago())

    assert fake.calls("/api/conversations.list") == []


def test_a_key_never_posted_is_not_found_and_the_lookup_stays_within_its_pages(
    fake: FakeSlack, alert: Alert, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slack_module, "LOOKUP_PAGE_SIZE", 2)
    slack = poster(fake)
    for i in range(3 * slack_module.LOOKUP_PAGES):
        slack.post(CHANNEL, alert, key=f"alert {i}")

    assert slack.find(CHANNEL, KEY, since=an_hour_ago()) is None
    assert len(fake.calls(HISTORY)) == slack_module.LOOKUP_PAGES
    assert slack.find(CHANNEL, "alert 0", since=an_hour_ago()) is None  # beyond the pages: posted again
    assert slack.find(CHANNEL, f"alert {3 * slack_module.LOOKUP_PAGES - 1}", since=an_hour_ago()) is not None


def test_a_reply_is_found_in_its_thread_with_conversations_replies(fake: FakeSlack, alert: Alert) -> None:
    slack = poster(fake)
    parent = slack.post(CHANNEL, alert, key="parent")
    assert parent is not None
    reply = slack.post(CHANNEL, alert, thread=parent, key=KEY)

    assert slack.find(CHANNEL, KEY, since=an_hour_ago(), thread=parent) == reply
    assert slack.find(CHANNEL, KEY, since=an_hour_ago()) is None  # replies are not in the history
    assert fake.calls(REPLIES)[0].json["ts"] == parent.ts


def test_without_the_history_scope_the_lookup_is_off_and_nothing_is_held(
    fake: FakeSlack, alert: Alert, caplog: pytest.LogCaptureFixture
) -> None:
    """A token without channels:history: Slack answers missing_scope; the lookup says so in the logs
    and finds nothing, so the alert is posted (it may show twice) rather than never."""
    fake.scopes = "chat:write"
    slack = poster(fake)
    slack.post(CHANNEL, alert, key=KEY)

    assert slack.find(CHANNEL, KEY, since=an_hour_ago()) is None
    assert "lookup after a timeout is off" in caplog.text
    assert "channels:history" in caplog.text


def test_a_lookup_slack_cannot_answer_is_transient(fake: FakeSlack, alert: Alert) -> None:
    slack = poster(fake)
    slack.post(CHANNEL, alert, key=KEY)
    fake.fail(HISTORY, status=500, times=2)

    with pytest.raises(TransientError, match=r"conversations\.history"):
        slack.find(CHANNEL, KEY, since=an_hour_ago())


def test_a_webhook_cannot_look_anything_up(fake: FakeSlack, alert: Alert) -> None:
    hook = SlackPoster(webhook_url=lambda: fake.webhook_url)
    hook.post(CHANNEL, alert, key=KEY)

    assert hook.find(CHANNEL, KEY, since=an_hour_ago()) is None
    assert fake.calls(HISTORY) == []
