"""Specification of ``ecswatch.config`` (model, loader, graph and ``python -m ecswatch.config``):
the demo's jobs file, how tasks find their job, and what each
kind of mistake in the file says (file, job and field, all problems at once)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecswatch.config.__main__ import main
from ecswatch.config.loader import load_config, parse_config, parse_duration
from ecswatch.config.model import (
    Backoff,
    ConfigError,
    ExitRule,
    Jitter,
    JobsConfig,
    LogOverride,
    MatchRule,
    NetworkConfig,
    RetryAction,
    RetryPolicy,
)
from ecswatch.config.routing import Routing
from ecswatch.events.task import TaskEvent, parse_task_event
from ecswatch.run import LogLocation, Outcome
from local import DEMO_JOBS_CONFIG

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "src" / "ecswatch" / "config" / "jobs.yaml"
SHIPPED_SOURCE = "src/ecswatch/config/jobs.yaml"
COMPILED = ROOT / "src" / "ecswatch" / "config" / "jobs.compiled.json"
SOURCE = "jobs.yaml"
#: How every problem with the job most tests use begins: file, then job.
JOB = f"{SOURCE}: jobs.invoice-export"
OUTCOMES = (
    "succeeded, failed, out_of_memory, failed_to_start, spot_interrupted, stopped_by_user, timed_out, "
    "infrastructure, stopped_by_scheduler"
)

EventLoader = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def demo_jobs() -> JobsConfig:
    return load_config(DEMO_JOBS_CONFIG)


@pytest.fixture
def event_of(load_event: EventLoader) -> Callable[[str], TaskEvent]:
    def make(name: str) -> TaskEvent:
        return parse_task_event(load_event(name))

    return make


def parse(jobs: dict[str, Any], defaults: dict[str, Any] | None = None) -> JobsConfig:
    data: dict[str, Any] = {"jobs": jobs}
    if defaults is not None:
        data["defaults"] = defaults
    return parse_config(data, SOURCE)


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, SOURCE)
    return list(caught.value.problems)


def job_problems(spec: dict[str, Any], name: str = "invoice-export") -> list[str]:
    return problems({"jobs": {name: spec}})


def with_family(**fields: Any) -> dict[str, Any]:
    return {"match": {"family": "invoice-export"}, **fields}


def with_rule(**rule: Any) -> dict[str, Any]:
    return with_family(retry={"attempts": 3, "evaluate_on_exit": [rule]})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the demo's jobs file


def test_the_demo_config_loads_with_one_job_per_sample_job(demo_jobs: JobsConfig) -> None:
    assert [job.name for job in demo_jobs.jobs] == [
        "nightly-report",
        "invoice-export",
        "image-resize",
        "data-sync",
        "payments-recon",
        "ml-features",
        "warehouse-load",
        "audit-export",
        "legacy-etl",
    ]


@pytest.mark.parametrize(
    ("sample", "job"),
    [
        ("stopped-success", "nightly-report"),
        ("running-fargate", "nightly-report"),
        ("stopped-user", "nightly-report"),
        ("stopped-nonzero-exit", "invoice-export"),
        ("stopped-nonzero-exit-deprovisioning", "invoice-export"),
        ("stopped-timed-out", "invoice-export"),
        ("stopped-oom", "image-resize"),
        ("stopped-image-pull-failed", "data-sync"),
        ("stopped-secrets-failed", "payments-recon"),
        ("stopped-spot-interrupted", "ml-features"),
        ("stopped-sidecar-app-failed", "warehouse-load"),
        ("stopped-sidecar-agent-failed", "warehouse-load"),
        ("stopped-firelens", "audit-export"),
        ("stopped-taskdef-deleted", "legacy-etl"),
    ],
)
def test_every_sample_event_matches_its_intended_job(
    demo_jobs: JobsConfig, event_of: Callable[[str], TaskEvent], sample: str, job: str
) -> None:
    matched = demo_jobs.match(event_of(sample))

    assert matched is not None
    assert matched.name == job


def test_every_readable_event_in_the_sample_sqs_batch_matches_a_job(
    demo_jobs: JobsConfig, load_event: EventLoader
) -> None:
    bodies = []
    for record in load_event("sqs-batch")["Records"]:
        try:
            bodies.append(json.loads(record["body"]))
        except ValueError:
            continue  # the batch deliberately holds one truncated body
    matched = [demo_jobs.match(parse_task_event(body)) for body in bodies]

    assert [job.name if job else None for job in matched] == [
        "nightly-report",
        "invoice-export",
        "image-resize",
    ]


def test_the_service_task_sample_matches_no_job(
    demo_jobs: JobsConfig, event_of: Callable[[str], TaskEvent]
) -> None:
    assert demo_jobs.match(event_of("stopped-service-task")) is None


def test_the_demo_defaults_alert_failures_to_batch_alerts_and_never_retry(demo_jobs: JobsConfig) -> None:
    assert demo_jobs.defaults.slack_channel == "#batch-alerts"
    assert demo_jobs.defaults.notify_on_success is False
    assert demo_jobs.defaults.retry == RetryPolicy(attempts=1, evaluate_on_exit=(), backoff=Backoff())


def test_nightly_report_announces_successes_in_its_own_channel(demo_jobs: JobsConfig) -> None:
    assert demo_jobs.routing("nightly-report") == Routing(channel="#reports", notify_success=True)


def test_invoice_export_retries_exit_2_spot_and_start_failures_three_times(demo_jobs: JobsConfig) -> None:
    job = demo_jobs.job("invoice-export")

    assert job is not None
    assert job.retry.attempts == 3
    assert job.retry.evaluate_on_exit == (
        ExitRule(action=RetryAction.RETRY, on_exit_code="2"),
        ExitRule(action=RetryAction.RETRY, on_outcome=Outcome.SPOT_INTERRUPTED),
        ExitRule(action=RetryAction.RETRY, on_outcome=Outcome.FAILED_TO_START),
        ExitRule(action=RetryAction.EXIT, on_outcome=Outcome.FAILED),
        ExitRule(action=RetryAction.EXIT, on_outcome=Outcome.OUT_OF_MEMORY),
    )
    assert job.max_run_time_seconds == 2 * 3600


@pytest.mark.offline
def test_the_config_check_command_reports_the_shipped_file_ok_and_its_compiled_form_in_sync() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecswatch.config", "--check", SHIPPED_SOURCE],
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


# --------------------------------------------------------------------------- matching


def test_a_task_no_job_matches_gets_the_defaults_under_its_family_name(
    demo_jobs: JobsConfig, event_of: Callable[[str], TaskEvent]
) -> None:
    job = demo_jobs.job_for(event_of("stopped-service-task"))

    assert (job.name, job.configured, job.slack_channel, job.notify_on_success) == (
        "web",
        False,
        "#batch-alerts",
        False,
    )
    assert job.retry == demo_jobs.defaults.retry
    assert job.match == MatchRule(family="web")


def test_a_matched_task_gets_its_configured_job(
    demo_jobs: JobsConfig, event_of: Callable[[str], TaskEvent]
) -> None:
    job = demo_jobs.job_for(event_of("stopped-nonzero-exit"))

    assert (job.name, job.configured) == ("invoice-export", True)


def test_a_manual_run_without_the_rules_started_by_is_not_the_scheduled_job(
    demo_jobs: JobsConfig, load_event: EventLoader
) -> None:
    raw = load_event("stopped-success")
    del raw["detail"]["startedBy"]

    job = demo_jobs.job_for(parse_task_event(raw))

    assert (job.name, job.configured, job.slack_channel) == ("nightly-report", False, "#batch-alerts")


def test_the_first_job_in_file_order_whose_rules_all_hold_wins(event_of: Callable[[str], TaskEvent]) -> None:
    config = parse(
        {
            "exports-on-etl": {"match": {"family": "invoice-*", "cluster": "etl"}},
            "exports": {"match": {"family": "invoice-*"}},
            "invoice-export": {"match": {"family": "invoice-export"}},
        }
    )

    job = config.match(event_of("stopped-nonzero-exit"))

    assert job is not None
    assert job.name == "exports"


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ({"family": "invoice-export"}, True),
        ({"family": "invoice-*"}, True),
        ({"family": "invoice"}, False),
        ({"family": "Invoice-export"}, False),
        ({"family": "*", "cluster": "batch"}, True),
        ({"family": "*", "cluster": "b*"}, True),
        ({"family": "*", "cluster": "legacy"}, False),
        ({"family": "*", "group": "family:invoice-export"}, True),
        ({"family": "*", "group": "service:*"}, False),
        ({"family": "*", "started_by": "events-rule/*"}, True),
        ({"family": "*", "started_by": "ecs-svc/*"}, False),
    ],
)
def test_match_rules_are_case_sensitive_globs_over_family_cluster_group_and_started_by(
    event_of: Callable[[str], TaskEvent], rule: dict[str, str], matches: bool
) -> None:
    config = parse({"job": {"match": rule}})

    assert (config.match(event_of("stopped-nonzero-exit")) is not None) is matches


def test_the_cluster_is_matched_by_name_for_old_format_arns_too(event_of: Callable[[str], TaskEvent]) -> None:
    config = parse({"resize": {"match": {"family": "image-resize", "cluster": "legacy"}}})

    assert config.match(event_of("stopped-oom")) is not None


def test_routing_of_a_job_not_in_the_file_uses_the_defaults() -> None:
    config = parse({}, defaults={"slack_channel": "#ops", "notify_on_success": True})

    assert config.routing("legacy-etl") == Routing(channel="#ops", notify_success=True)


# --------------------------------------------------------------------------- values and inheritance


def test_a_job_inherits_channel_notification_and_retry_from_the_defaults() -> None:
    config = parse(
        {"invoice-export": with_family()},
        defaults={"slack_channel": "#ops", "notify_on_success": True, "retry": {"attempts": 2}},
    )

    job = config.jobs[0]
    assert (job.slack_channel, job.notify_on_success, job.retry.attempts) == ("#ops", True, 2)


def test_without_defaults_failures_go_to_batch_alerts_without_retries() -> None:
    job = parse({"invoice-export": with_family()}).jobs[0]

    assert (job.slack_channel, job.notify_on_success, job.retry) == ("#batch-alerts", False, RetryPolicy())


def test_a_jobs_retry_keys_override_the_defaults_key_by_key_and_backoff_too() -> None:
    config = parse(
        {"invoice-export": with_family(retry={"attempts": 5, "backoff": {"base_seconds": 30}})},
        defaults={
            "retry": {
                "attempts": 2,
                "evaluate_on_exit": [{"on_exit_code": "2", "action": "RETRY"}],
                "backoff": {"max_seconds": 600, "jitter": "none"},
            }
        },
    )

    retry = config.jobs[0].retry
    assert retry.attempts == 5
    assert retry.evaluate_on_exit == (ExitRule(action=RetryAction.RETRY, on_exit_code="2"),)
    assert retry.backoff == Backoff(base_seconds=30, max_seconds=600, multiplier=2.0, jitter=Jitter.NONE)


def test_a_jobs_evaluate_on_exit_replaces_the_default_rules_as_a_whole() -> None:
    config = parse(
        {
            "invoice-export": with_family(
                retry={"evaluate_on_exit": [{"on_outcome": "timed_out", "action": "EXIT"}]}
            )
        },
        defaults={"retry": {"evaluate_on_exit": [{"on_exit_code": "2", "action": "RETRY"}]}},
    )

    assert config.jobs[0].retry.evaluate_on_exit == (
        ExitRule(action=RetryAction.EXIT, on_outcome=Outcome.TIMED_OUT),
    )


def test_rule_actions_are_read_case_insensitively_as_in_aws_batch() -> None:
    job = parse({"invoice-export": with_rule(on_exit_code="2", action="retry")}).jobs[0]

    assert job.retry.evaluate_on_exit[0].action is RetryAction.RETRY


def test_an_exit_code_written_as_a_bare_yaml_number_is_read_as_its_digits() -> None:
    job = parse({"invoice-export": with_rule(on_exit_code=137, action="EXIT")}).jobs[0]

    assert job.retry.evaluate_on_exit[0].on_exit_code == "137"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("90m", 5400),
        ("45s", 45),
        ("1h30m", 5400),
        ("2h0m0s", 7200),
        ("1d", 86400),
        (" 5m ", 300),
    ],
)
def test_durations_are_read_to_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "90", "1.5h", "h", "", "0s", "30m2h", "-5m"])
def test_text_that_is_not_a_positive_duration_is_not_one(text: str) -> None:
    assert parse_duration(text) is None


def test_schedules_are_kept_as_written() -> None:
    job = parse({"invoice-export": with_family(schedule="cron(0 2 * * ? *)")}).jobs[0]

    assert job.schedule == "cron(0 2 * * ? *)"


def test_a_log_override_names_the_stream_the_awslogs_way_in_the_tasks_region(
    demo_jobs: JobsConfig, event_of: Callable[[str], TaskEvent]
) -> None:
    event = event_of("stopped-taskdef-deleted")
    job = demo_jobs.job_for(event)

    assert job.log is not None
    assert job.log.location(event, "etl") == LogLocation(
        "eu-west-1", "/ecs/legacy-etl", "ecs/etl/dcce1dbef8668c5b6a69263cf7a98251"
    )


def test_a_log_override_may_name_its_own_region(event_of: Callable[[str], TaskEvent]) -> None:
    override = LogOverride(group="/ecs/etl", stream_prefix="app", region="us-east-1")

    assert override.location(event_of("stopped-taskdef-deleted"), "etl").region == "us-east-1"


def test_network_config_becomes_run_tasks_network_configuration() -> None:
    network = NetworkConfig(subnets=("subnet-0a1f3c5e7b9d24680",), security_groups=("sg-0b7d2e4f6a8c13579",))

    assert network.run_task_network_configuration() == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a1f3c5e7b9d24680"],
            "securityGroups": ["sg-0b7d2e4f6a8c13579"],
            "assignPublicIp": "DISABLED",
        }
    }


def test_an_empty_file_is_a_config_without_jobs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing yet\n"))

    assert (config.jobs, config.defaults.slack_channel) == ((), "#batch-alerts")


# --------------------------------------------------------------------------- what each mistake says


def test_a_value_of_the_wrong_type_names_file_job_field_and_value() -> None:
    assert job_problems(with_family(retry={"attempts": "three"})) == [
        f"{JOB}.retry.attempts: must be a whole number, not 'three'"
    ]


def test_true_is_not_a_number_of_attempts() -> None:
    assert job_problems(with_family(retry={"attempts": True})) == [
        f"{JOB}.retry.attempts: must be a whole number, not True"
    ]


def test_a_quoted_boolean_is_text_not_a_flag() -> None:
    assert job_problems(with_family(notify_on_success="true")) == [
        f"{JOB}.notify_on_success: must be true or false, not 'true'"
    ]


@pytest.mark.parametrize("attempts", [0, 11, 12])
def test_attempts_outside_1_to_10_are_refused_as_aws_batch_does(attempts: int) -> None:
    assert job_problems(with_family(retry={"attempts": attempts})) == [
        f"{JOB}.retry.attempts: must be between 1 and 10, not {attempts}"
    ]


def test_a_misspelt_key_is_an_error_with_a_suggestion() -> None:
    assert job_problems(with_family(retry={"atempts": 3})) == [
        f"{JOB}.retry.atempts: unknown key (did you mean 'attempts'?)"
    ]


def test_an_unknown_key_with_no_near_miss_lists_the_allowed_keys() -> None:
    [problem] = job_problems(with_family(owner="team-billing"))

    allowed = problem.removeprefix(f"{JOB}.owner: unknown key (allowed: ").removesuffix(")").split(", ")
    assert allowed == sorted(allowed)
    assert {"match", "slack_channel", "retry", "max_run_time", "schedule", "network", "log"} <= set(allowed)


def test_an_unknown_top_level_key_is_an_error() -> None:
    assert problems({"job": {}}) == ["jobs.yaml: job: unknown key (did you mean 'jobs'?)"]


def test_a_job_without_match_is_refused() -> None:
    assert job_problems({"slack_channel": "#billing"}) == [f"{JOB}.match: is required (at least a family)"]


def test_a_match_without_family_is_refused() -> None:
    assert job_problems({"match": {"cluster": "batch"}}) == [f"{JOB}.match.family: is required"]


def test_a_job_that_is_not_a_mapping_is_refused() -> None:
    assert job_problems("invoice-export:12") == [  # type: ignore[arg-type]
        f"{JOB}: must be a mapping with at least match.family, not 'invoice-export:12'"
    ]


def test_a_job_name_with_spaces_is_refused() -> None:
    assert job_problems(with_family(), name="invoice export") == [
        "jobs.yaml: jobs.invoice export: a job name is letters, digits, '-', '_' and '.', "
        "and starts with a letter or digit"
    ]


def test_a_bad_duration_is_refused_with_examples() -> None:
    assert job_problems(with_family(max_run_time="2 hours")) == [
        f"{JOB}.max_run_time: must be a duration like '2h', '90m', '45s' or '1h30m', not '2 hours'"
    ]


def test_a_bare_number_is_not_a_duration_because_its_unit_would_be_a_guess() -> None:
    assert job_problems(with_family(max_run_time=7200)) == [
        f"{JOB}.max_run_time: must be a duration like '2h', '90m', '45s' or '1h30m', not 7200"
    ]


@pytest.mark.parametrize("schedule", ["0 2 * * *", "cron()", "every day", "rate(1 day"])
def test_a_schedule_must_be_wrapped_in_cron_or_rate(schedule: str) -> None:
    assert job_problems(with_family(schedule=schedule)) == [
        f"{JOB}.schedule: must be cron(...) or rate(...) as EventBridge writes them, not {schedule!r}"
    ]


def test_a_bad_action_is_refused() -> None:
    assert job_problems(with_rule(on_exit_code="2", action="RESTART")) == [
        f"{JOB}.retry.evaluate_on_exit[0].action: must be RETRY or EXIT, not 'RESTART'"
    ]


def test_a_rule_without_action_is_refused() -> None:
    assert job_problems(with_rule(on_exit_code="2")) == [
        f"{JOB}.retry.evaluate_on_exit[0].action: is required (RETRY or EXIT)"
    ]


def test_a_bad_outcome_lists_the_outcomes() -> None:
    assert job_problems(with_rule(on_outcome="oom", action="EXIT")) == [
        f"{JOB}.retry.evaluate_on_exit[0].on_outcome: must be one of {OUTCOMES}, not 'oom'"
    ]


@pytest.mark.parametrize("pattern", ["abc", "1*3", "*1", "", -1])
def test_an_exit_code_pattern_is_digits_with_an_optional_trailing_star(pattern: object) -> None:
    assert job_problems(with_rule(on_exit_code=pattern, action="RETRY")) == [
        f"{JOB}.retry.evaluate_on_exit[0].on_exit_code: must be digits with an "
        f"optional trailing '*' (like '137' or '1*'), not {pattern!r}"
    ]


def test_a_rule_without_conditions_is_refused_because_it_would_match_silently() -> None:
    assert job_problems(with_rule(action="RETRY")) == [
        f"{JOB}.retry.evaluate_on_exit[0]: needs at least one of on_exit_code, "
        "on_reason, on_status_reason, on_outcome (on_reason: '*' matches every stop)"
    ]


def test_a_glob_longer_than_aws_batch_allows_is_refused() -> None:
    assert job_problems(with_rule(on_reason="x" * 513, action="EXIT")) == [
        f"{JOB}.retry.evaluate_on_exit[0].on_reason: must be at most 512 characters long"
    ]


def test_a_bad_jitter_is_refused() -> None:
    assert job_problems(with_family(retry={"backoff": {"jitter": "equal"}})) == [
        f"{JOB}.retry.backoff.jitter: must be full or none, not 'equal'"
    ]


def test_a_backoff_that_starts_above_its_cap_is_refused() -> None:
    assert job_problems(with_family(retry={"backoff": {"base_seconds": 600, "max_seconds": 300}})) == [
        f"{JOB}.retry.backoff.base_seconds: must not exceed max_seconds (600 > 300)"
    ]


def test_a_large_number_out_of_range_is_shown_as_written() -> None:
    assert job_problems(with_family(retry={"backoff": {"max_seconds": 1_000_000}})) == [
        f"{JOB}.retry.backoff.max_seconds: must be between 1 and 86400, not 1000000"
    ]


def test_a_multiplier_below_one_would_shrink_the_wait_and_is_refused() -> None:
    assert job_problems(with_family(retry={"backoff": {"multiplier": 0.5}})) == [
        f"{JOB}.retry.backoff.multiplier: must be between 1 and 10, not 0.5"
    ]


def test_a_network_without_subnets_is_refused() -> None:
    assert job_problems(with_family(network={"security_groups": ["sg-0b7d2e4f6a8c13579"]})) == [
        f"{JOB}.network.subnets: is required (RunTask needs at least one subnet)"
    ]


def test_subnet_and_security_group_ids_must_look_like_ids() -> None:
    network = {"subnets": ["subnet-0a1f3c5e7b9d24680", "private-a"], "security_groups": ["default"]}

    assert job_problems(with_family(network=network)) == [
        f"{JOB}.network.subnets[1]: must look like subnet-0123456789abcdef0, not 'private-a'",
        f"{JOB}.network.security_groups[0]: must look like sg-0123456789abcdef0, not 'default'",
    ]


def test_a_log_override_needs_group_and_stream_prefix() -> None:
    assert job_problems(with_family(log={"group": "/ecs/invoice-export"})) == [
        f"{JOB}.log.stream_prefix: is required"
    ]


def test_a_slack_channel_with_spaces_is_refused() -> None:
    assert job_problems(with_family(slack_channel="#billing alerts")) == [
        f"{JOB}.slack_channel: must be a channel name or id without spaces, not '#billing alerts'"
    ]


def test_a_job_shadowed_by_an_earlier_job_with_the_same_rules_is_refused() -> None:
    assert problems({"jobs": {"a": {"match": {"family": "x"}}, "b": {"match": {"family": "x"}}}}) == [
        "jobs.yaml: jobs.b.match: never matches: jobs.a has the same match rules and comes first"
    ]


def test_jobs_must_be_a_mapping_of_names() -> None:
    assert problems({"jobs": [{"match": {"family": "x"}}]}) == [
        "jobs.yaml: jobs: must be a mapping, not a list"
    ]


def test_all_problems_are_reported_together_in_file_order() -> None:
    data = {
        "defaults": {"slack_chanel": "#ops"},
        "jobs": {
            "invoice-export": {
                "match": {"family": "invoice-export"},
                "max_run_time": "2 hours",
                "retry": {"attempts": 12, "evaluate_on_exit": [{"on_outcome": "oom", "action": "RESTART"}]},
            },
            "data-sync": {"match": {"cluster": "batch"}, "schedule": "hourly"},
        },
    }

    with pytest.raises(ConfigError) as caught:
        parse_config(data, SOURCE)

    assert str(caught.value) == "\n".join(
        [
            "jobs.yaml: defaults.slack_chanel: unknown key (did you mean 'slack_channel'?)",
            f"{JOB}.retry.evaluate_on_exit[0].action: must be RETRY or EXIT, not 'RESTART'",
            f"{JOB}.retry.evaluate_on_exit[0].on_outcome: must be one of {OUTCOMES}, not 'oom'",
            f"{JOB}.retry.attempts: must be between 1 and 10, not 12",
            f"{JOB}.max_run_time: must be a duration like '2h', '90m', '45s' or '1h30m', not '2 hours'",
            "jobs.yaml: jobs.data-sync.match.family: is required",
            "jobs.yaml: jobs.data-sync.schedule: must be cron(...) or rate(...) as EventBridge "
            "writes them, not 'hourly'",
        ]
    )


# --------------------------------------------------------------------------- reading the file


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs:\n  nightly-report:\n    match:\n      family: nightly-report\n"
        "     slack_channel: '#reports'\n",
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == (
        f"{path}: line 5, column 6: invalid YAML: expected <block end>, but found '<block mapping start>'",
    )


def test_a_key_given_twice_is_an_error_instead_of_the_last_one_silently_winning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "jobs:\n  nightly-report:\n    match: {family: nightly-report}\n"
        "  nightly-report:\n    match: {family: invoice-export}\n",
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == (f"{path}: line 4, column 3: duplicate key 'nightly-report'",)


def test_a_file_that_is_a_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- nightly-report\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == (
        f"{path}: (top level): must be a mapping with defaults and jobs, not a list",
    )


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == (f"{path}: cannot read the file: No such file or directory",)


def test_problems_in_a_file_are_named_by_the_path_as_given(tmp_path: Path) -> None:
    path = write(
        tmp_path, "jobs:\n  invoice-export:\n    match: {family: invoice-export}\n    retry: {attempts: 12}\n"
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.problems == (
        f"{path}: jobs.invoice-export.retry.attempts: must be between 1 and 10, not 12",
    )


# --------------------------------------------------------------------------- the CI check


def test_the_check_prints_a_summary_and_exits_0_for_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--check", str(SHIPPED)])

    assert (code, capsys.readouterr().out) == (0, f"{SHIPPED}: 0 jobs OK; {COMPILED} in sync\n")


def test_the_check_prints_every_problem_and_exits_1_for_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "jobs:\n  a: {match: {family: a}, max_run_time: soon}\n  b: {}\n")

    code = main([str(path)])

    assert (code, capsys.readouterr().err) == (
        1,
        f"{path}: jobs.a.max_run_time: must be a duration like '2h', '90m', '45s' or '1h30m', not 'soon'\n"
        f"{path}: jobs.b.match: is required (at least a family)\n",
    )


def test_the_check_without_a_file_prints_its_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert (main([]), capsys.readouterr().err) == (
        2,
        "usage: python -m ecswatch.config [--check] CONFIG.yaml\n",
    )


@pytest.mark.offline
def test_the_config_check_warns_about_a_policy_written_for_the_old_retry_default(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  orders-load:\n    match: {family: orders-load}\n    retry: {attempts: 3}\n")

    result = subprocess.run(
        [sys.executable, "-m", "ecswatch.config", str(path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0
    assert result.stderr.startswith(f"warning: {path}: jobs.orders-load.retry: attempts 3 now retries")
    assert "{on_outcome: failed, action: EXIT}" in result.stderr
