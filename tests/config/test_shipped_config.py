"""The jobs.yaml that ``sam build`` bundles is the user's: it ships without jobs, so nothing made up
(the demo's clusters, subnets, channels, schedules) can reach an account, and its commented
example, once uncommented in place, is a valid config.

The demo's and the tests' jobs live in ``local/demo-jobs.yaml``, outside the code ``sam build``
bundles (``CodeUri: src/``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ecswatch.config.loader import load_config
from ecswatch.config.model import Backoff, ExitRule, RetryAction, RetryPolicy
from ecswatch.config.settings import BUNDLED_JOBS_CONFIG, Settings
from ecswatch.run import Outcome
from local import DEMO_JOBS_CONFIG

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = re.compile(
    r"^#   --- job example ---\n(.*?)^#   --- end of job example ---\n", re.DOTALL | re.MULTILINE
)


def test_the_shipped_config_defines_no_job() -> None:
    config = load_config(BUNDLED_JOBS_CONFIG)

    assert config.jobs == ()
    # With no job configured, a failure alerts and nothing is retried.
    assert config.defaults.notify_on_success is False
    assert config.defaults.retry == RetryPolicy(attempts=1, evaluate_on_exit=(), backoff=Backoff())


def test_the_functions_and_the_cli_read_the_shipped_config_unless_told_otherwise() -> None:
    assert Settings().jobs_config_path == str(BUNDLED_JOBS_CONFIG)
    assert Settings.from_env({}).jobs_config_path == str(BUNDLED_JOBS_CONFIG)
    assert Settings.from_env({"JOBS_CONFIG_PATH": "/opt/jobs.yaml"}).jobs_config_path == "/opt/jobs.yaml"


def test_the_demo_jobs_are_not_in_the_code_sam_build_bundles() -> None:
    bundled = (ROOT / "src").resolve()

    assert BUNDLED_JOBS_CONFIG.is_relative_to(bundled)
    assert not DEMO_JOBS_CONFIG.resolve().is_relative_to(bundled)
    assert len(load_config(DEMO_JOBS_CONFIG).jobs) == 9


def test_the_job_example_uncommented_in_place_is_a_valid_config(tmp_path: Path) -> None:
    text = BUNDLED_JOBS_CONFIG.read_text(encoding="utf-8")
    block = EXAMPLE.search(text)
    assert block is not None
    uncommented = "".join(line.removeprefix("# ") for line in block.group(1).splitlines(keepends=True))
    edited = tmp_path / "jobs.yaml"
    edited.write_text(text[: block.start()] + uncommented + text[block.end() :], encoding="utf-8")

    (job,) = load_config(edited).jobs

    assert (job.name, job.match.family, job.match.cluster, job.match.started_by) == (
        "nightly-report",
        "nightly-report",
        "batch",
        "events-rule/nightly-report*",
    )
    assert (job.slack_channel, job.schedule, job.max_run_time_seconds) == (
        "#reports",
        "cron(0 2 * * ? *)",
        3600,
    )
    assert job.retry.attempts == 3
    assert job.retry.evaluate_on_exit == (
        ExitRule(action=RetryAction.RETRY, on_exit_code="75"),
        ExitRule(action=RetryAction.RETRY, on_outcome=Outcome.SPOT_INTERRUPTED),
    )
    assert job.run_task_network() == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0123456789abcdef0"],
            "securityGroups": ["sg-0123456789abcdef0"],
            "assignPublicIp": "DISABLED",
        }
    }


def test_the_ci_check_reports_the_shipped_file_ok_with_no_jobs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecswatch.config", "--check", "src/ecswatch/config/jobs.yaml"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "src/ecswatch/config/jobs.yaml: 0 jobs OK; src/ecswatch/config/jobs.compiled.json in sync\n",
        "",
    )
