"""`ecswatch datadog apply` against the local Datadog endpoint (local/fake_datadog.py), through the real
datadog-api-client: a dry run shows what it would create, an apply creates it, a second apply changes
nothing, and an edit made in Datadog is shown as a diff and put back.

The monitors are also checked against what ecswatch really sends: the metric names and tags read off
``metric_points`` and the Datadog events of the sample reports, as tests/dashboards/test_dashboards.py
does for the dashboard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import pytest
from datadog_api_client import Configuration
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.model.monitor import Monitor

from ecswatch.cli import datadog
from ecswatch.cli.main import main
from local.fake_datadog import DASHBOARDS_PATH, MONITORS_PATH, FakeDatadog

API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
MONITORS = ("dead-letter-queue", "job-failed", "missed-run", "slow-run")

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def fake() -> Iterator[FakeDatadog]:
    with FakeDatadog(api_keys={API_KEY}).running() as running:
        yield running


@pytest.fixture
def cli(fake: FakeDatadog, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("DATADOG_API_URL", fake.url)
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    monkeypatch.setenv("DD_APP_KEY", APP_KEY)
    monkeypatch.delenv("DD_SITE", raising=False)

    def call(*argv: str) -> tuple[int, str, str]:
        code = main(["datadog", "apply", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def dashboard_title() -> str:
    return str(datadog.shipped()[0].body["title"])


def test_a_dry_run_shows_the_dashboard_and_every_monitor_it_would_create_and_creates_nothing(
    fake: FakeDatadog, cli: Cli
) -> None:
    code, out, err = cli("--dry-run")

    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"would create: dashboard {dashboard_title()!r}",
        *(f"would create: monitor {name!r}" for name in MONITORS),
        "(5 to create, 0 to update, 0 unchanged; nothing was changed: --dry-run)",
    ]
    assert (fake.dashboards, fake.monitors) == ({}, {})
    assert [r.method for r in fake.calls(DASHBOARDS_PATH) + fake.calls(MONITORS_PATH)] == ["GET", "GET"]


def test_apply_creates_them_and_a_second_apply_changes_nothing(fake: FakeDatadog, cli: Cli) -> None:
    code, out, _ = cli()

    assert code == 0
    assert out.splitlines()[-1] == "(5 to create, 0 to update, 0 unchanged)"
    assert [d["title"] for d in fake.dashboards.values()] == [dashboard_title()]
    assert sorted(
        tag for m in fake.monitors.values() for tag in m["tags"] if tag.startswith("ecswatch-monitor:")
    ) == [f"ecswatch-monitor:{name}" for name in MONITORS]
    writes = len([r for r in fake.server.requests if r.method in ("POST", "PUT")])

    code, out, _ = cli()

    assert code == 0
    assert out.splitlines()[-1] == "(0 to create, 0 to update, 5 unchanged)"
    assert len([r for r in fake.server.requests if r.method in ("POST", "PUT")]) == writes


def test_an_edit_made_in_datadog_is_shown_as_a_diff_and_put_back(fake: FakeDatadog, cli: Cli) -> None:
    cli()
    monitor_id, monitor = next(
        (i, m) for i, m in fake.monitors.items() if "ecswatch-monitor:job-failed" in m["tags"]
    )
    monitor["query"] = monitor["query"].replace("last_15m", "last_1h")

    code, out, _ = cli("--dry-run")

    assert code == 0
    assert f"would update: monitor 'job-failed' ({monitor_id})" in out
    assert (
        '  -  "query": "sum(last_1h):sum:ecswatch.run.count{!outcome:succeeded} by {job}.as_count() > 0",'
        in out
    )
    assert (
        '  +  "query": "sum(last_15m):sum:ecswatch.run.count{!outcome:succeeded} by {job}.as_count() > 0",'
        in out
    )
    assert "last_1h" in fake.monitors[monitor_id]["query"]

    cli()

    assert "last_15m" in fake.monitors[monitor_id]["query"]
    assert cli()[1].splitlines()[-1] == "(0 to create, 0 to update, 5 unchanged)"


def test_a_dashboard_is_matched_by_title_and_two_with_that_title_are_refused(
    fake: FakeDatadog, cli: Cli
) -> None:
    cli()
    first = next(iter(fake.dashboards.values()))
    fake.dashboards["abc-def-999"] = {**first, "id": "abc-def-999"}

    code, out, err = cli("--dry-run")

    assert (code, out) == (1, "")
    assert err == (
        f"ecswatch: error: 2 dashboards are titled {dashboard_title()!r} (abc-def-001, abc-def-999): "
        "delete all but one\n"
    )


def test_json_lists_each_change(cli: Cli) -> None:
    code, out, _ = cli("--dry-run", "--json")

    assert code == 0
    assert [(c["kind"], c["name"], c["action"]) for c in json.loads(out)][:2] == [
        ("dashboard", dashboard_title(), "create"),
        ("monitor", "dead-letter-queue", "create"),
    ]


def test_without_an_application_key_it_says_which_variable_to_set(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DD_APP_KEY")

    code, _, err = cli("--dry-run")

    assert code == 1
    assert err == (
        "ecswatch: error: set DD_APP_KEY: dashboards and monitors need an API key and an application key\n"
    )


def test_a_refused_key_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DD_API_KEY", "not-a-key")

    code, _, err = cli("--dry-run")

    assert code == 1
    assert err == (
        "ecswatch: error: Datadog refused to list monitors: HTTP 403 Forbidden "
        "(check DD_API_KEY and DD_APP_KEY, and the site)\n"
    )


def test_an_unknown_site_is_refused_before_any_call(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATADOG_API_URL")

    code, _, err = cli("--dry-run", "--site", "datadog.example")

    assert code == 1
    assert err.startswith("ecswatch: error: 'datadog.example' is not a Datadog site")


# --------------------------------------------------------------------------- the monitors themselves


def monitor_files() -> dict[str, dict[str, Any]]:
    folder = resources.files("ecswatch.monitors")
    return {
        item.name.removesuffix(".json"): json.loads(item.read_text())
        for item in folder.iterdir()
        if item.name.endswith(".json")
    }


@pytest.mark.parametrize("name", MONITORS)
def test_each_monitor_is_one_the_v1_api_accepts_tagged_to_be_found_again(name: str) -> None:
    body = monitor_files()[name]

    model = validate_and_convert_types(body, (Monitor,), [name], True, True, Configuration())

    assert not model._unparsed
    assert {"managed-by:ecswatch", f"ecswatch-monitor:{name}"} <= set(body["tags"])


def test_the_monitors_query_what_ecswatch_emits(emitted_names: dict[str, set[str]]) -> None:
    queries = {name: body["query"] for name, body in monitor_files().items()}

    metric = re.search(r":(ecswatch\.[a-z_.]+)\{", queries["job-failed"])
    assert metric is not None
    assert metric.group(1) in emitted_names["metrics"]
    assert "outcome" in emitted_names["tag_keys"]
    assert "job" in emitted_names["tag_keys"]
    assert "ecswatch_warning:slow_run" in emitted_names["event_tags"]
    assert '"ecswatch_warning:slow_run"' in queries["slow-run"]
    assert "watchdog:missed_run" in emitted_names["event_tags"]
    assert '"watchdog:missed_run"' in queries["missed-run"]


@pytest.fixture
def emitted_names(sample_report: Any) -> dict[str, set[str]]:
    """Metric names, tag keys and event tags that ecswatch sends for real reports and watchdog alerts."""
    from datetime import UTC, datetime, timedelta

    from ecswatch.config.model import JobConfig, MatchRule, RetryPolicy
    from ecswatch.events.schedule import parse_schedule
    from ecswatch.history.records import RunStats, SlowRun, slow_run_event
    from ecswatch.notifications.alerts import metric_points
    from ecswatch.run import FIRST_ATTEMPT
    from ecswatch.watchdog.alerts import missed_alert, missed_datadog_event
    from ecswatch.watchdog.decisions import Expectation

    report = sample_report("stopped-nonzero-exit")
    points = metric_points(report)
    slow = slow_run_event(
        report,
        FIRST_ATTEMPT,
        report.job,
        SlowRun(run_time=600.0, usual=RunStats(5, 300.0, 300.0), factor=2.0),
    )
    job = JobConfig("nightly-report", MatchRule("nightly-report"), "#reports", False, RetryPolicy())
    expected = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
    expectation = Expectation(job, parse_schedule("cron(0 2 * * ? *)"), "jobs config", timedelta(minutes=10))
    alert = missed_alert(expectation, expected, last_started=None)
    missed = missed_datadog_event(alert, expectation, expected, at=expected + timedelta(minutes=11))
    return {
        "metrics": {p.name for p in points},
        "tag_keys": {t.split(":", 1)[0] for p in points for t in p.tags},
        "event_tags": {*slow.tags, *missed.tags},
    }
