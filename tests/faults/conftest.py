"""The fault suite's stack: the real task-events handler over the offline stack, faults on demand.

The helpers live in :mod:`local.faults` (the fault-matrix benchmark uses them too). One stack
serves each test module: moto in server mode with DynamoDB requests serialized (so several
handler processes at once see DynamoDB's atomic conditional writes, see
:class:`local.stack.SerializedMotoServer`), the fake Slack and Datadog endpoints, which answer 429,
500, slowly or ``ok: false`` on demand (``stack.slack.fault``, or over HTTP with
:func:`local.fake_slack.control`), and a retry queue. Each test starts from empty fakes, an empty
state table and a cold container. The job config is the suite's own: invoice-export retries
exit 2 up to 3 attempts, everything alerts to #batch-alerts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities import parameters

from ecswatch.handlers import task_events
from local.faults import (  # noqa: F401 -- the suite's helpers, shared with bench/fault_matrix.py
    JOBS,
    POST,
    STRAY_SETTINGS,
    UPDATE,
    as_task,
    deliver,
    empty_state_table,
    named,
    top_level,
)
from local.stack import Stack, offline_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    jobs = tmp_path_factory.mktemp("faults") / "jobs.yaml"
    jobs.write_text(JOBS)
    with pytest.MonkeyPatch.context() as env:
        for name in STRAY_SETTINGS:
            env.delenv(name, raising=False)
        env.setenv("JOBS_CONFIG_PATH", str(jobs))
        parameters.clear_caches()
        with offline_stack(retries=True, serialized=True) as running:
            yield running
        parameters.clear_caches()


@pytest.fixture(autouse=True)
def cold_container(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Empty fakes and state table, a new container, the deployed Powertools settings (the handler
    module made its metrics at import, so the namespace is set on that object)."""
    monkeypatch.setattr(task_events.metrics, "namespace", "ecswatch")
    monkeypatch.setattr(task_events.metrics, "service", "ecswatch")
    stack.slack.clear()
    stack.datadog.server.clear()
    empty_state_table()
    task_events.dependencies.cache_clear()
    yield
    task_events.dependencies.cache_clear()
