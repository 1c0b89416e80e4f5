"""DatadogSink against FakeDatadog over real HTTP: what the real datadog-api-client puts on the wire."""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecswatch.adapters.datadog import DEFUSED_AT, DatadogSink, clean_title, event_request, event_text
from ecswatch.adapters.secrets import SecretError
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.notifications.alerts import datadog_event, event_markdown, metric_points
from ecswatch.run import Alert, DatadogEvent, Link, MetricPoint, RunReport
from local.capture import Captured
from local.fake_datadog import (
    EVENTS_PATH,
    SERIES_PATH,
    FakeDatadog,
    decoded_json,
    render_event,
    render_series,
)
from tests.fakes import FixedLogs, SampleReport

pytestmark = pytest.mark.offline

API_KEY = "0123456789abcdef0123456789abcdef"
TEN_RUNS = (
    "stopped-success",
    "stopped-nonzero-exit",
    "stopped-oom",
    "stopped-image-pull-failed",
    "stopped-secrets-failed",
    "stopped-spot-interrupted",
    "stopped-user",
    "stopped-timed-out",
    "stopped-sidecar-app-failed",
    "running-fargate",
)
LOG_TAIL = ("Traceback (most recent call last):", "ValueError: bad invoice")


@pytest.fixture
def report_for(sample_report: SampleReport) -> Callable[[str], RunReport]:
    return lambda name: sample_report(name, logs=FixedLogs(LOG_TAIL))


@pytest.fixture
def fake() -> Iterator[FakeDatadog]:
    with FakeDatadog().running() as server:
        yield server


def sink_for(fake: FakeDatadog, *, at: float = 1_741_067_000, **options: Any) -> DatadogSink:
    """A sink whose clock reads shortly after the sample runs ended (March 2025)."""
    return DatadogSink(api_key=lambda: API_KEY, host=fake.url, clock=lambda: at, **options)


def wire_points(series: list[dict[str, Any]]) -> Counter[tuple[str, int, int, float, tuple[str, ...]]]:
    return Counter(
        (s["metric"], s["type"], p["timestamp"], p["value"], tuple(sorted(s["tags"])))
        for s in series
        for p in s["points"]
    )


def expected_points(points: list[MetricPoint]) -> Counter[tuple[str, int, int, float, tuple[str, ...]]]:
    types = {"gauge": 3, "count": 1}
    return Counter((p.name, types[p.kind], p.timestamp, p.value, tuple(sorted(p.tags))) for p in points)


# -- events


def test_an_event_carries_the_report_as_markdown_with_its_links(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    report = report_for("stopped-nonzero-exit")
    links = report.links

    sink_for(fake).send_event(datadog_event(report))

    assert fake.events() == [
        {
            "title": "invoice-export failed",
            "text": "%%% \n"
            "**invoice-export failed**\n\n"
            "Cause: container 'export' exited 2\n\n"
            "- Cluster: batch\n"
            "- Exit code: 2\n"
            "- Container: export\n"
            "- Started: 2025-03-04 05:30:44 UTC\n"
            "- Run time: 10m32s\n"
            "- Start latency: 42.4s\n"
            "- Attempt: 1/1\n"
            "- Task definition: invoice-export:12\n\n"
            f"[Log stream]({links.log_stream})"
            " · [ECS task](https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/batch/tasks/"
            "f77fae8dc62fd89bd256b1c897d44a25/configuration?region=eu-west-1)"
            f" · [Logs Insights]({links.logs_insights})"
            " · [Task definition](https://eu-west-1.console.aws.amazon.com/ecs/v2/task-definitions/"
            "invoice-export/12/containers?region=eu-west-1)"
            "\n %%%",
            "alert_type": "error",
            "aggregation_key": "ecswatch:invoice-export:f77fae8dc62fd89bd256b1c897d44a25",
            "tags": [
                "job:invoice-export",
                "cluster:batch",
                "family:invoice-export",
                "revision:12",
                "launch_type:fargate",
                "attempt:1",
                "outcome:failed",
                "exit_code:2",
            ],
            "date_happened": 1741066904,
            "source_type_name": "amazon ecs",
        }
    ]


#: What an "@" that could start a mention is shown as: the full-width at sign, which Datadog reads as text.
AT = DEFUSED_AT
MENTIONS_AND_A_LINK = "@here see [the runbook](https://evil.example/x) @pagerduty-oncall @slack-ops"


def test_mentions_and_links_a_task_wrote_arrive_as_plain_text_and_ecswatchs_links_stay_links(
    fake: FakeDatadog, sample_report: SampleReport
) -> None:
    # given a container reason that would page people and plant a link if Datadog read it as written
    def reason(detail: dict[str, Any]) -> None:
        for container in detail["containers"]:
            container["reason"] = MENTIONS_AND_A_LINK

    report = sample_report("stopped-nonzero-exit", change=reason, logs=FixedLogs(LOG_TAIL))

    sink_for(fake).send_event(datadog_event(report))

    [event] = fake.events()
    text = event["text"]
    assert (
        f"Cause: container 'export' exited 2: {AT}here see \\[the runbook\\](https://evil.example/x)" in text
    )
    assert f"{AT}pagerduty-oncall {AT}slack-ops" in text
    assert [word for word in ("@here", "@pagerduty", "@slack", "[the runbook](") if word in text] == []
    assert f" · [Logs Insights]({report.links.logs_insights})" in text


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("nightly failed: @here", f"nightly failed: {AT}here"),
        ("@pagerduty-x @slack-ops-alerts @webhook-y", f"{AT}pagerduty-x {AT}slack-ops-alerts {AT}webhook-y"),
        ("mail bob@example.com", f"mail bob{AT}example.com"),
        ("no mention @ all", "no mention @ all"),
    ],
)
def test_no_mention_in_an_event_title_or_text_reaches_datadog(title: str, shown: str) -> None:
    event = DatadogEvent(
        title=title,
        text=f"{title}\n\n[ECS task](https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/b@x)",
        alert_type="error",
        aggregation_key="k",
        tags=(),
        date_happened=0,
    )

    request = event_request(event, now=0)

    assert request.title == shown
    assert request.text == (
        f"%%% \n{shown}\n\n[ECS task](https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/b@x)\n %%%"
    )


def test_event_markdown_escapes_what_the_alert_carries_and_keeps_its_own_links() -> None:
    alert = Alert(
        run_key="k",
        job="nightly [x](https://e.example)",
        title="nightly [x](https://e.example) failed",
        severity="error",
        outcome="failed",
        cause="a \\[b](c) cause",
        fields=(("Reason", "[y](https://e.example)"),),
        links=(Link("ECS task", "https://console.aws.amazon.com/x"),),
    )

    assert event_markdown(alert, cause_label="Cause") == (
        "**nightly \\[x\\](https://e.example) failed**\n\n"
        "Cause: a \\\\\\[b\\](c) cause\n\n"
        "- Reason: \\[y\\](https://e.example)\n\n"
        "[ECS task](https://console.aws.amazon.com/x)"
    )


def test_a_success_is_posted_as_a_success_event(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink_for(fake).send_event(datadog_event(report_for("stopped-success")))

    (event,) = fake.events()
    assert (event["title"], event["alert_type"]) == ("nightly-report succeeded", "success")


def test_the_api_key_header_comes_from_the_provider_on_each_send(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    keys = iter(["key-before-rotation", "key-after-rotation"])
    sink = DatadogSink(api_key=lambda: next(keys), host=fake.url, clock=lambda: 1_741_067_000)
    event = datadog_event(report_for("stopped-nonzero-exit"))

    sink.send_event(event)
    sink.send_event(event)

    assert [r.headers["dd-api-key"] for r in fake.calls(EVENTS_PATH)] == [
        "key-before-rotation",
        "key-after-rotation",
    ]


def test_constructing_the_sink_fetches_no_key_and_sends_nothing(fake: FakeDatadog) -> None:
    asked: list[str] = []

    def provider() -> str:
        asked.append("key")
        return API_KEY

    DatadogSink(api_key=provider, host=fake.url)

    assert (asked, fake.server.requests) == ([], [])


def test_a_long_title_is_cut_in_the_middle_at_words_within_100_characters() -> None:
    title = "warehouse-load failed: " + " ".join(["ResourceInitializationError"] * 8)

    cut = clean_title(title)

    assert len(cut) <= 100
    assert cut.startswith("warehouse-load failed: ResourceInitializationError")
    assert " … ResourceInitializationError" in cut
    assert cut.endswith("ResourceInitializationError")


def test_a_long_title_keeps_why_no_retry_follows_at_its_end() -> None:
    title = (
        "nightly-warehouse-consolidation-eu-west-1 timed out "
        "(attempt 3/3, no retry: timed out (AWS Batch does not retry a timeout))"
    )

    cut = clean_title(title)

    assert len(cut) <= 100
    assert cut.startswith("nightly-warehouse-consolidation-eu-west-1 timed out")
    assert cut.endswith("(AWS Batch does not retry a timeout))")


def test_a_long_text_stays_within_4000_characters_and_keeps_its_links(fake: FakeDatadog) -> None:
    links = "[ECS task](https://console.aws.amazon.com/ecs/task) · [Log stream](https://console.aws/logs)"
    markdown = (
        "**job failed**\n\n" + "\n".join(f"- line {i}: " + "x" * 60 for i in range(200)) + "\n\n" + links
    )
    event = DatadogEvent("job failed", markdown, "error", "ecswatch:job:abc", ("job:job",), 1_741_066_904)

    sink_for(fake).send_event(event)

    (sent,) = fake.events()
    assert len(sent["text"]) <= 4000
    assert sent["text"].endswith("_(truncated)_\n\n" + links + "\n %%%")
    assert event_text(markdown) == sent["text"]


def test_a_run_older_than_18_hours_is_posted_as_of_now(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    report = report_for("stopped-nonzero-exit")
    a_day_later = 1_741_066_904 + 24 * 3600

    sink_for(fake, at=a_day_later).send_event(datadog_event(report))

    (event,) = fake.events()
    assert "date_happened" not in fake.calls(EVENTS_PATH)[0].json
    assert event["title"] == "invoice-export failed"


# -- metrics


def test_points_of_ten_reports_are_sent_in_one_series_request(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink = sink_for(fake)
    points = [point for name in TEN_RUNS for point in metric_points(report_for(name))]
    for name in TEN_RUNS:
        sink.add_points(metric_points(report_for(name)))

    sent = sink.flush()

    assert sent == len(points)
    assert len(fake.calls(SERIES_PATH)) == 1
    assert wire_points(fake.series()) == expected_points(points)


def test_series_carry_type_unit_and_tags_and_no_resources(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink = sink_for(fake)
    sink.add_points(metric_points(report_for("stopped-oom")))

    sink.flush()

    by_metric = {s["metric"]: s for s in fake.series()}
    duration, runs = by_metric["ecswatch.run.duration"], by_metric["ecswatch.run.count"]
    assert (duration["type"], duration["unit"], runs["type"]) == (3, "second", 1)
    assert "unit" not in runs
    assert "job:image-resize" in duration["tags"]
    assert all("resources" not in s for s in fake.series())


def test_counts_of_one_series_in_the_same_second_are_added(fake: FakeDatadog) -> None:
    sink = sink_for(fake)
    tags = ("job:nightly-report", "outcome:failed")
    sink.add_points([MetricPoint("ecswatch.run.count", 1.0, 1_741_066_904, tags, kind="count")] * 3)

    assert sink.flush() == 3

    assert [(s["metric"], s["points"]) for s in fake.series()] == [
        ("ecswatch.run.count", [{"timestamp": 1_741_066_904, "value": 3.0}])
    ]


def test_flush_with_nothing_buffered_sends_nothing(fake: FakeDatadog) -> None:
    assert sink_for(fake).flush() == 0
    assert fake.server.requests == []


def test_a_flush_after_a_successful_one_sends_only_new_points(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink = sink_for(fake)
    sink.add_points(metric_points(report_for("stopped-oom")))
    sink.flush()

    assert sink.flush() == 0
    assert len(fake.calls(SERIES_PATH)) == 1


def test_a_payload_over_the_documented_limit_is_split_and_every_point_sent_once(fake: FakeDatadog) -> None:
    sink = sink_for(fake)
    points = [
        MetricPoint("ecswatch.run.duration", float(i), 1_741_066_904, (f"job:job-{i:05d}", "x" * 120))
        for i in range(3000)
    ]
    sink.add_points(points)

    assert sink.flush() == 3000

    calls = fake.calls(SERIES_PATH)
    assert len(calls) > 1
    assert all(r.status == 202 and len(r.body) <= 512_000 for r in calls)
    assert wire_points(fake.series()) == expected_points(points)


# -- failures


def test_a_throttled_submit_is_retried_and_then_accepted(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink = sink_for(fake)
    sink.add_points(metric_points(report_for("stopped-oom")))
    fake.server.fail(SERIES_PATH, status=429, retry_after=1)

    sent = sink.flush()

    assert sent == 4
    assert [r.status for r in fake.calls(SERIES_PATH)] == [429, 202]
    assert sink.pending == 0


def test_persistent_5xx_is_transient_and_keeps_the_points_for_the_next_flush(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    sink = sink_for(fake, max_retries=1)
    points = metric_points(report_for("stopped-oom"))
    sink.add_points(points)
    fake.server.fail(SERIES_PATH, status=500, times=2)

    with pytest.raises(TransientError) as failure:
        sink.flush()
    assert sink.pending == len(points)
    assert API_KEY not in str(failure.value)

    assert sink.flush() == len(points)
    assert [r.status for r in fake.calls(SERIES_PATH)] == [500, 500, 202]
    assert wire_points(fake.series()) == expected_points(points)


def test_when_a_later_split_request_fails_only_its_points_are_kept(fake: FakeDatadog) -> None:
    sink = sink_for(fake, max_retries=0, max_payload_bytes=1_000)
    # Interleaved in the buffer, grouped on the wire: one series (two points) per request.
    points = [
        MetricPoint(f"ecswatch.test.m{i % 2}", float(i), 1_741_066_900 + i, ("job:a", "y" * 450))
        for i in range(4)
    ]
    sink.add_points(points)
    fake.server.fail(SERIES_PATH, status=200)  # the first request passes ...
    fake.server.fail(SERIES_PATH, status=503)  # ... the second fails

    with pytest.raises(TransientError):
        sink.flush()
    assert [s["metric"] for s in fake.series()] == ["ecswatch.test.m0"]
    assert sink.pending == 2

    assert sink.flush() == 2
    assert wire_points(fake.series()) == expected_points(points)


def test_points_that_are_not_numbers_are_left_out(fake: FakeDatadog) -> None:
    sink = sink_for(fake)
    tags = ("job:a",)
    sink.add_points([MetricPoint("ecswatch.run.duration", v, 1_741_066_904, tags) for v in (math.nan, 5.0)])

    assert sink.flush() == 1
    assert [s["points"] for s in fake.series()] == [[{"timestamp": 1_741_066_904, "value": 5.0}]]


def test_a_refused_api_key_is_a_delivery_error_without_the_key(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    fake.api_keys = {"the-right-key"}

    with pytest.raises(DeliveryError) as refused:
        sink_for(fake).send_event(datadog_event(report_for("stopped-oom")))

    assert "403" in str(refused.value)
    assert API_KEY not in str(refused.value)


def test_a_refused_payload_is_a_delivery_error(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    fake.server.fail(EVENTS_PATH, status=400, body={"errors": ["Event too old"]})

    with pytest.raises(DeliveryError, match="Event too old"):
        sink_for(fake).send_event(datadog_event(report_for("stopped-oom")))


def test_a_slow_answer_times_out_as_transient(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    fake.server.fail(EVENTS_PATH, status=200, delay=1.0)

    with pytest.raises(TransientError, match="timed out"):
        sink_for(fake, timeout=0.3).send_event(datadog_event(report_for("stopped-oom")))


def test_an_unreachable_endpoint_is_transient(report_for: Callable[[str], RunReport]) -> None:
    with FakeDatadog().running() as gone:
        url = gone.url
    sink = DatadogSink(api_key=lambda: API_KEY, host=url, max_retries=0, timeout=1.0)

    with pytest.raises(TransientError):
        sink.send_event(datadog_event(report_for("stopped-oom")))


def test_an_unresolvable_api_key_is_a_delivery_error_naming_the_parameter(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    def missing() -> str:
        raise SecretError("ssm:/ecswatch/datadog-api-key", "the parameter does not exist")

    sink = DatadogSink(api_key=missing, host=fake.url)

    with pytest.raises(DeliveryError, match="ssm:/ecswatch/datadog-api-key"):
        sink.send_event(datadog_event(report_for("stopped-oom")))
    assert fake.server.requests == []


# -- site selection (no request is made)


@pytest.mark.parametrize(
    ("site", "host"),
    [
        ("datadoghq.com", "https://api.datadoghq.com"),
        ("datadoghq.eu", "https://api.datadoghq.eu"),
        ("us5.datadoghq.com", "https://api.us5.datadoghq.com"),
        ("https://app.datadoghq.eu/", "https://api.datadoghq.eu"),
    ],
)
def test_the_site_selects_the_api_host(site: str, host: str) -> None:
    assert DatadogSink(api_key=lambda: API_KEY, site=site).host == host


def test_datadog_site_wins_over_a_dd_site_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_SITE", "us3.datadoghq.com")

    assert DatadogSink(api_key=lambda: API_KEY, site="datadoghq.eu").host == "https://api.datadoghq.eu"


def test_an_unknown_site_is_a_delivery_error() -> None:
    with pytest.raises(DeliveryError, match=r"datadoghq\.con"):
        _ = DatadogSink(api_key=lambda: API_KEY, site="datadoghq.con").host


def test_a_host_override_wins_over_the_site() -> None:
    sink = DatadogSink(api_key=lambda: API_KEY, site="datadoghq.eu", host="http://127.0.0.1:8126")

    assert sink.host == "http://127.0.0.1:8126"


# -- the fake's demo rendering


def test_the_demo_renders_events_and_series_readably(
    fake: FakeDatadog, report_for: Callable[[str], RunReport]
) -> None:
    report = report_for("stopped-oom")
    sink = sink_for(fake)
    sink.send_event(datadog_event(report))
    sink.add_points(metric_points(report))
    sink.flush()

    event_text_ = render_event(fake.events()[0])
    series_text = render_series(fake.series())

    assert event_text_.startswith("[ERROR] image-resize ")
    assert "job:image-resize" in event_text_
    assert "%%%" not in event_text_
    assert "ecswatch.run.duration" in series_text
    assert "gauge" in series_text
    assert "count" in series_text


def test_the_fake_decodes_compressed_series_bodies() -> None:
    body = json.dumps({"series": [{"metric": "m", "points": [{"timestamp": 1, "value": 2.0}]}]}).encode()
    request = Captured("POST", SERIES_PATH, {}, {"content-encoding": "deflate"}, zlib.compress(body))

    assert decoded_json(request)["series"][0]["metric"] == "m"


def test_while_submits_are_refused_the_buffer_keeps_the_newest_points_and_counts_the_dropped(
    fake: FakeDatadog,
) -> None:
    sink = sink_for(fake, max_retries=0, max_buffered_points=5)
    fake.server.fail(SERIES_PATH, status=500, times=1)
    points = [
        MetricPoint("ecswatch.run.count", 1.0, 1_741_060_000 + i, ("job:a",), kind="count") for i in range(8)
    ]

    sink.add_points(points[:4])
    with pytest.raises(TransientError):
        sink.flush()
    sink.add_points(points[4:])

    assert sink.pending == 5
    assert sink.dropped == 3
    assert sink.flush() == 5
    assert wire_points(fake.series()) == expected_points(points[3:])
