"""Sidecars never decide a run: the agents teams run next to a batch job are known by their vendors'
container names and images, and a job may name its own in jobs.yaml (issue 14, "Sidecars").

The decision stays: an essential container that is not a sidecar decides. Built on
events/stopped-sidecar-agent-failed.json (warehouse-load: the loader exits 0, the agent beside it
exits 1), read without a task definition, so every container counts as essential.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ecswatch.analysis.outcome import is_sidecar
from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.loader import parse_config
from ecswatch.config.model import ConfigError, JobsConfig
from ecswatch.config.settings import Settings
from ecswatch.run import Outcome, RunReport
from tests.retries.test_retries import NoLogs, NoTaskDefinitions

LoadEvent = Callable[[str], dict[str, Any]]
AGENT_FAILED = "stopped-sidecar-agent-failed"

#: Real container names and images from each vendor's ECS instructions.
KNOWN_AGENTS = [
    ("sysdig-workload-agent", "quay.io/sysdig/workload-agent:latest"),
    ("orchestrator", "quay.io/sysdig/orchestrator-agent:latest"),
    ("cwagent", "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest"),
    ("cloudwatch-agent", "amazon/cloudwatch-agent:latest"),
    ("aws-otel-collector", "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0"),
    ("otel", "otel/opentelemetry-collector-contrib:0.98.0"),
    ("log_router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
    ("fluentbit", "fluent/fluent-bit:3.0"),
    ("newrelic-infra", "newrelic/nri-ecs:1.12.2"),
    ("nr-agent", "newrelic/infrastructure-bundle:3.2"),
    ("splunk-otel", "quay.io/signalfx/splunk-otel-collector:0.100.0"),
    ("splunk-logs", "splunk/fluentd-hec:1.3.3"),
    ("istio-proxy", "docker.io/istio/proxyv2:1.22.0"),
    ("envoy", "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.5.0-prod"),
    ("vault-agent", "hashicorp/vault:1.17"),
    ("secrets", "hashicorp/vault:1.17"),
]


@pytest.mark.parametrize(("name", "image"), KNOWN_AGENTS)
def test_a_known_agent_is_a_sidecar_by_its_image_or_its_name(name: str, image: str) -> None:
    assert is_sidecar(name, image)


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("app", "111111111111.dkr.ecr.eu-central-1.amazonaws.com/example-api:189b5e97"),
        ("loader", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/warehouse-load:2025-02-27"),
        ("vault-backup", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vault-backup:3"),
        ("splunk-report", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/splunk-report:1"),
    ],
)
def test_a_job_that_merely_mentions_a_vendor_is_not_a_sidecar(name: str, image: str) -> None:
    assert not is_sidecar(name, image)


def report(raw: dict[str, Any], jobs: JobsConfig | None = None) -> RunReport:
    result = process_task_event(
        raw, settings=Settings(), task_definitions=NoTaskDefinitions(), logs=NoLogs(), jobs=jobs
    )
    assert isinstance(result, RunReport)
    return result


def with_agent(raw: dict[str, Any], name: str, image: str) -> dict[str, Any]:
    """The sample with its failing agent as another vendor's container (or the job's own)."""
    agent = raw["detail"]["containers"][1]
    agent["name"], agent["image"] = name, image
    return raw


@pytest.mark.parametrize(
    ("name", "image"),
    [
        ("sysdig-workload-agent", "quay.io/sysdig/workload-agent:latest"),
        ("newrelic-infra", "newrelic/nri-ecs:1.12.2"),
        ("splunk-otel", "quay.io/signalfx/splunk-otel-collector:0.100.0"),
        ("istio-proxy", "docker.io/istio/proxyv2:1.22.0"),
        ("vault-agent", "hashicorp/vault:1.17"),
    ],
)
def test_an_agent_that_fails_does_not_fail_a_run_whose_job_succeeded(
    load_event: LoadEvent, name: str, image: str
) -> None:
    result = report(with_agent(load_event(AGENT_FAILED), name, image))

    assert (result.outcome, result.deciding_container) == (Outcome.SUCCEEDED, "loader")


SHIPPER_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/metrics-shipper:4"


def jobs_with(sidecars: list[str] | None) -> JobsConfig:
    job: dict[str, Any] = {"match": {"family": "warehouse-load"}}
    if sidecars is not None:
        job["sidecars"] = sidecars
    return parse_config({"jobs": {"warehouse-load": job}}, "jobs.yaml")


def test_a_container_the_job_names_as_its_sidecar_does_not_decide(load_event: LoadEvent) -> None:
    raw = with_agent(load_event(AGENT_FAILED), "metrics-shipper", SHIPPER_IMAGE)

    assert report(raw, jobs_with(None)).outcome is Outcome.FAILED  # unknown to ecswatch: it decides
    named = report(raw, jobs_with(["metrics-shipper"]))
    assert (named.outcome, named.deciding_container) == (Outcome.SUCCEEDED, "loader")


def test_the_essential_app_still_decides_when_a_named_sidecar_succeeds(load_event: LoadEvent) -> None:
    raw = with_agent(load_event(AGENT_FAILED), "metrics-shipper", SHIPPER_IMAGE)
    raw["detail"]["containers"][0]["exitCode"] = 3
    raw["detail"]["containers"][1]["exitCode"] = 0

    result = report(raw, jobs_with(["metrics-shipper"]))

    assert (result.outcome, result.deciding_container, result.exit_code) == (Outcome.FAILED, "loader", 3)


@pytest.mark.parametrize(
    ("sidecars", "problem"),
    [
        (["metrics shipper"], "jobs.warehouse-load.sidecars[0]: must be a container name"),
        (["shipper", "shipper"], "jobs.warehouse-load.sidecars[1]: 'shipper' is listed twice"),
        ("shipper", "jobs.warehouse-load.sidecars"),
    ],
)
def test_the_config_check_names_a_bad_sidecar_entry(sidecars: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        jobs_with(sidecars)

    assert any(p.startswith(problem) or problem in p for p in caught.value.problems), caught.value.problems
