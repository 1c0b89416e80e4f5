"""Where a job's alerts go: the job config for configured jobs, the deployment's default otherwise."""

from __future__ import annotations

from ecswatch.adapters.factory import _routing
from ecswatch.config.loader import parse_config
from ecswatch.config.routing import Routing
from ecswatch.config.settings import Settings

CONFIG = parse_config(
    {
        "defaults": {"slack_channel": "#config-default"},
        "jobs": {"nightly-report": {"match": {"family": "nightly-report"}, "slack_channel": "#reports"}},
    },
    "jobs.yaml",
)


def test_a_configured_job_goes_to_its_own_channel() -> None:
    assert _routing(Settings(slack_default_channel="#deploy-default"), CONFIG, "nightly-report") == Routing(
        channel="#reports"
    )


def test_a_task_of_no_configured_job_goes_to_the_deployments_default_channel() -> None:
    routing = _routing(Settings(slack_default_channel="#deploy-default"), CONFIG, "some-family")

    assert routing == Routing(channel="#deploy-default")
