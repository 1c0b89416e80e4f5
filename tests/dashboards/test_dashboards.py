"""The Datadog dashboard (``src/ecswatch/dashboards/datadog-ecswatch.json``, shipped in the wheel) imports,
and graphs only what ecswatch sends.

What ecswatch sends is not listed here by hand: it is read off ``metric_points`` and ``start_points``
for every sample event, so a renamed metric or tag breaks this test, not the
dashboard in production.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from datadog_api_client import Configuration
from datadog_api_client.model_utils import validate_and_convert_types
from datadog_api_client.v1.model.dashboard import Dashboard

from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.settings import Settings
from ecswatch.events.task import MalformedEvent
from ecswatch.notifications.alerts import metric_points, start_points
from ecswatch.run import DatadogEvent, RunReport
from tests.fakes import FixedLogs, FixedTaskDefinitions

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "src" / "ecswatch" / "dashboards" / "datadog-ecswatch.json"
EVENTS_DIR = ROOT / "events"
TEMPLATE_VARIABLES = ("job", "cluster", "launch_type")

#: ``avg:ecswatch.run.duration{$job,!outcome:succeeded} by {job,exit_code}.as_count()``
METRIC_QUERY = re.compile(
    r"^(?P<aggregator>avg|sum|min|max):(?P<metric>[a-z0-9_.]+)"
    r"\{(?P<scope>[^}]*)\}"
    r"(?: by \{(?P<group_by>[^}]*)\})?"
    r"(?P<functions>(?:\.[a-z_]+\(\))*)$"
)
FORMULA_NAME = re.compile(r"\b[a-z_][a-z0-9_]*\b")


@dataclass
class Emitted:
    """Metric names, and tag keys with the values seen, over all sample events."""

    metrics: set[str] = field(default_factory=set)
    tags: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    kinds: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def emitted() -> Emitted:
    found = Emitted()
    for report in _sample_reports():
        for point in [*metric_points(report), *start_points(report)]:
            found.metrics.add(point.name)
            found.kinds[point.name] = point.kind
            for tag in point.tags:
                key, _, value = tag.partition(":")
                found.tags[key].add(value)
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _sample_reports() -> Iterator[RunReport]:
    settings = Settings(include_service_tasks=True)
    for path in sorted(EVENTS_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        if "detail-type" not in raw:
            continue  # the SQS envelope
        try:
            result = process_task_event(
                raw,
                settings=settings,
                task_definitions=FixedTaskDefinitions(),
                logs=FixedLogs(note="not needed for metric names"),
            )
        except MalformedEvent:
            continue
        if isinstance(result, RunReport):
            yield result


def metric_queries(node: Any) -> Iterator[str]:
    """Every metrics query anywhere in the dashboard."""
    if isinstance(node, dict):
        if node.get("data_source") == "metrics" and "query" in node:
            yield str(node["query"])
        for value in node.values():
            yield from metric_queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from metric_queries(item)


def parsed(query: str) -> re.Match[str]:
    match = METRIC_QUERY.match(query)
    assert match is not None, f"not a metric query this test understands: {query}"
    return match


def scope_terms(query: str) -> list[str]:
    return [term.strip() for term in parsed(query)["scope"].split(",") if term.strip()]


def requests(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for widget in dashboard["widgets"]:
        yield from widget["definition"].get("requests", [])


# ------------------------------------------------------------------ import


def test_the_dashboard_is_an_ordered_dashboard_the_v1_api_accepts(dashboard: dict[str, Any]) -> None:
    model = validate_and_convert_types(dashboard, (Dashboard,), ["dashboard"], True, True, Configuration())

    assert dashboard["layout_type"] == "ordered"
    # A widget the API spec does not know would come back as an unparsed object, not raise.
    assert not model._unparsed


def test_the_dashboard_has_metric_queries_for_this_test_to_check(dashboard: dict[str, Any]) -> None:
    assert len(list(metric_queries(dashboard))) >= 10


# ------------------------------------------------------------------ metrics and tags


def test_every_metric_query_names_a_metric_ecswatch_emits(
    dashboard: dict[str, Any], emitted: Emitted
) -> None:
    unknown = {parsed(q)["metric"] for q in metric_queries(dashboard)} - emitted.metrics

    assert unknown == set()


def test_every_metric_ecswatch_emits_is_on_the_dashboard(dashboard: dict[str, Any], emitted: Emitted) -> None:
    graphed = {parsed(q)["metric"] for q in metric_queries(dashboard)}

    assert emitted.metrics - graphed == set()


def test_every_tag_a_query_filters_on_is_one_ecswatch_sets_with_a_value_it_sends(
    dashboard: dict[str, Any], emitted: Emitted
) -> None:
    filters = [t.lstrip("!") for q in metric_queries(dashboard) for t in scope_terms(q) if ":" in t]

    assert filters, "expected at least one tag filter (failed runs)"
    for term in filters:
        key, _, value = term.partition(":")
        assert value in emitted.tags.get(key, set()), f"{term} is not a tag ecswatch sends"


def test_every_tag_a_query_groups_by_is_one_ecswatch_sets(
    dashboard: dict[str, Any], emitted: Emitted
) -> None:
    grouped = {
        key.strip()
        for q in metric_queries(dashboard)
        if parsed(q)["group_by"]
        for key in parsed(q)["group_by"].split(",")
    }

    assert grouped - set(emitted.tags) == set()


def test_counts_are_summed_as_counts_and_gauges_are_not(dashboard: dict[str, Any], emitted: Emitted) -> None:
    for query in metric_queries(dashboard):
        match = parsed(query)
        is_count = emitted.kinds[match["metric"]] == "count"
        assert (match["aggregator"] == "sum" and match["functions"] == ".as_count()") == is_count, query


def test_every_formula_uses_only_queries_of_its_request(dashboard: dict[str, Any]) -> None:
    for request in requests(dashboard):
        names = {query["name"] for query in request.get("queries", [])}
        for formula in request.get("formulas", []):
            assert set(FORMULA_NAME.findall(formula["formula"])) <= names, formula["formula"]


# ------------------------------------------------------------------ template variables


def test_the_template_variables_are_job_cluster_and_launch_type_on_tags_ecswatch_sets(
    dashboard: dict[str, Any], emitted: Emitted
) -> None:
    variables = [(v["name"], v["prefix"]) for v in dashboard["template_variables"]]

    assert variables == [(name, name) for name in TEMPLATE_VARIABLES]
    assert set(TEMPLATE_VARIABLES) <= set(emitted.tags)


def test_every_metric_query_is_filtered_by_every_template_variable(dashboard: dict[str, Any]) -> None:
    for query in metric_queries(dashboard):
        variables = [term for term in scope_terms(query) if term.startswith("$")]
        assert variables == [f"${name}" for name in TEMPLATE_VARIABLES], query


def test_the_event_stream_shows_ecswatch_run_events_filtered_by_the_template_variables(
    dashboard: dict[str, Any],
) -> None:
    [stream] = [
        r["query"] for r in requests(dashboard) if r.get("query", {}).get("data_source") == "event_stream"
    ]
    source = next(f.default for f in msgspec.structs.fields(DatadogEvent) if f.name == "source_type_name")

    terms = stream["query_string"].split()

    assert terms[0] == "source:" + source.replace(" ", "_")
    assert terms[1:] == [f"${name}" for name in TEMPLATE_VARIABLES]
