"""Specification of ``ecswatch.retries.policy``: which stopped runs are tried again, after how long, and
what the decision says about why."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ecswatch.config.advice import semantics_notes
from ecswatch.config.loader import load_config, parse_config
from ecswatch.config.model import Backoff, ExitRule, Jitter, JobsConfig, RetryPolicy
from ecswatch.config.settings import Settings
from ecswatch.retries import policy as policy_module
from ecswatch.retries.policy import (
    SQS_MAX_DELAY_SECONDS,
    RetryAction,
    RetryDecision,
    backoff_delay,
    decide,
    via_sqs,
)
from ecswatch.run import Outcome, RunReport
from local import DEMO_JOBS_CONFIG
from tests.fakes import NoLogsExpected, SampleReport

SHIPPED = Path(__file__).parents[2] / "src" / "ecswatch" / "config" / "jobs.yaml"
HOST_TERMINATED = "Host EC2 (instance i-0b1c2d3e4f5a6b7c8) terminated."
MAINTENANCE = "ECS is performing maintenance on the underlying infrastructure hosting the task"
NO_JITTER = Backoff(base_seconds=60, max_seconds=3600, multiplier=2.0, jitter=Jitter.NONE)

ReportOf = Callable[..., RunReport]


@pytest.fixture
def report_of(sample_report: SampleReport) -> ReportOf:
    """The run report of a sample event, after ``change`` edits its raw ``detail``."""

    def make(name: str, change: Callable[[dict[str, Any]], None] | None = None) -> RunReport:
        return sample_report(
            name,
            change=change,
            logs=NoLogsExpected("the retry policy never needs logs"),
            settings=Settings(log_tail_lines=0, include_service_tasks=True),
        )

    return make


def rules(*entries: ExitRule, attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, evaluate_on_exit=entries, backoff=NO_JITTER)


def retry(**conditions: Any) -> ExitRule:
    return ExitRule(action=RetryAction.RETRY, **conditions)


def exit_(**conditions: Any) -> ExitRule:
    return ExitRule(action=RetryAction.EXIT, **conditions)


def host_terminated(detail: dict[str, Any]) -> None:
    """The EC2 instance under the task went away: ECS's stoppedReason, and no container exit code."""
    detail["stoppedReason"] = HOST_TERMINATED
    for container in detail["containers"]:
        container.pop("exitCode", None)


def task_failed_to_start(detail: dict[str, Any]) -> None:
    detail["stoppedReason"] = "Task failed to start"


# --------------------------------------------------------------------------- AWS Batch's rule, as a table


@dataclass(frozen=True)
class Stop:
    """A real STOPPED event (events/), optionally edited, and what ecswatch makes of it."""

    sample: str
    outcome: Outcome
    exit_code: int | None
    change: Callable[[dict[str, Any]], None] | None = None


EXIT_1 = Stop("stopped-sidecar-app-failed", Outcome.FAILED, 1)
EXIT_2 = Stop("stopped-nonzero-exit", Outcome.FAILED, 2)
OOM = Stop("stopped-oom", Outcome.OUT_OF_MEMORY, 137)
IMAGE_PULL = Stop("stopped-image-pull-failed", Outcome.FAILED_TO_START, None)
FAILED_TO_START = Stop("stopped-image-pull-failed", Outcome.FAILED_TO_START, None, task_failed_to_start)
SPOT = Stop("stopped-spot-interrupted", Outcome.SPOT_INTERRUPTED, 143)
HOST_GONE = Stop("stopped-nonzero-exit", Outcome.INFRASTRUCTURE, None, host_terminated)
TIMED_OUT = Stop("stopped-timed-out", Outcome.TIMED_OUT, 137)
USER = Stop("stopped-user", Outcome.STOPPED_BY_USER, 137)
SCHEDULER = Stop("stopped-service-task", Outcome.STOPPED_BY_SCHEDULER, 0)
SUCCESS = Stop("stopped-success", Outcome.SUCCEEDED, 0)

# AWS Batch's own sentences (API Reference: RetryStrategy, EvaluateOnExit; User Guide: "Automated
# job retries", "Job timeouts"). Each row of the table names the one it follows.
ATTEMPTS = (
    "If the value of attempts is greater than one, the job is retried on failure the same number of "
    "attempts as the value."
)
ONE_ATTEMPT = "You can specify between 1 and 10 attempts."
NO_MATCH = "If none of the listed conditions match, then the job is retried."
ALL_CONDITIONS = "an action to take (RETRY or EXIT) if all conditions are met."
FINAL_ENTRY = "For jobs that don't match to exit, add a final entry that exits for any reason."
EXIT_CODE_GLOB = (
    "can end with an asterisk (*) so that only the start of the string needs to be an exact match."
)
TERMINATED = "Jobs that are cancelled or terminated aren't retried."
TIMEOUT = "If a job is terminated for exceeding the timeout duration, it isn't retried."
QUOTES = (ATTEMPTS, ONE_ATTEMPT, NO_MATCH, ALL_CONDITIONS, FINAL_ENTRY, EXIT_CODE_GLOB, TERMINATED, TIMEOUT)

#: The User Guide's example ("Automated job retries"): two RETRY entries and a final EXIT for any reason.
USER_GUIDE_EXAMPLE = (
    retry(on_reason="AGENT"),
    retry(on_status_reason="Task failed to start"),
    exit_(on_reason="*"),
)
#: The widely used form for instances that go away under a job: retry those, exit on anything else.
HOST_EC2_EXAMPLE = (retry(on_status_reason="Host EC2*"), exit_(on_reason="*"))

NO_RULES = "no evaluate_on_exit rules: retried as AWS Batch does"
NO_RULE_MATCHED = "no rule matched: retried as AWS Batch does"
USER_STOP = "a user stopped the task, and a stop that someone meant is never retried"
SCHEDULER_STOP = "the service scheduler stopped the task, and it replaces its own tasks: never retried"
NOT_AFTER_TIMEOUT = (
    "timed out: AWS Batch does not retry a job terminated for exceeding its timeout "
    "(a rule with on_outcome: timed_out can)"
)


def retried(reason: str, attempt: int = 1) -> RetryDecision:
    """RETRY after ``attempt``, with the NO_JITTER wait (60 s, doubling)."""
    return RetryDecision(
        RetryAction.RETRY, reason, delay_seconds=60 * 2 ** (attempt - 1), next_attempt=attempt + 1
    )


def final(reason: str) -> RetryDecision:
    return RetryDecision(RetryAction.EXIT, reason)


BATCH_TABLE = [
    # quote, attempts, evaluate_on_exit, stop, attempt -> decision
    pytest.param(ATTEMPTS, 3, (), EXIT_1, 1, retried(NO_RULES), id="no-rules-exit-1"),
    pytest.param(ATTEMPTS, 3, (), EXIT_2, 2, retried(NO_RULES, 2), id="no-rules-exit-2-attempt-2"),
    pytest.param(ATTEMPTS, 3, (), EXIT_2, 3, final("attempts used (3/3)"), id="no-rules-attempts-used"),
    pytest.param(ATTEMPTS, 3, (), OOM, 1, retried(NO_RULES), id="no-rules-out-of-memory"),
    pytest.param(ATTEMPTS, 3, (), IMAGE_PULL, 1, retried(NO_RULES), id="no-rules-image-pull"),
    pytest.param(ATTEMPTS, 3, (), SPOT, 1, retried(NO_RULES), id="no-rules-spot"),
    pytest.param(ATTEMPTS, 3, (), HOST_GONE, 1, retried(NO_RULES), id="no-rules-host-terminated"),
    pytest.param(ATTEMPTS, 3, (), SUCCESS, 1, final("the run succeeded"), id="no-rules-success"),
    pytest.param(
        ONE_ATTEMPT, 1, (), EXIT_2, 1, final("no retries configured (attempts: 1)"), id="one-attempt"
    ),
    pytest.param(
        ONE_ATTEMPT,
        1,
        (retry(on_exit_code="2"),),
        EXIT_2,
        1,
        final("no retries configured (attempts: 1)"),
        id="one-attempt-even-when-a-rule-says-retry",
    ),
    pytest.param(
        NO_MATCH, 3, (retry(on_exit_code="2"),), EXIT_1, 1, retried(NO_RULE_MATCHED), id="no-match-exit-1"
    ),
    pytest.param(
        ALL_CONDITIONS,
        3,
        (retry(on_exit_code="2"),),
        EXIT_2,
        1,
        retried("evaluate_on_exit[0] (on_exit_code '2') says RETRY"),
        id="rule-retries-exit-2",
    ),
    pytest.param(
        ALL_CONDITIONS,
        3,
        (exit_(on_exit_code="2", on_outcome=Outcome.OUT_OF_MEMORY),),
        EXIT_2,
        1,
        retried(NO_RULE_MATCHED),
        id="one-condition-failing-is-no-match",
    ),
    pytest.param(
        FINAL_ENTRY,
        3,
        USER_GUIDE_EXAMPLE,
        FAILED_TO_START,
        1,
        retried("evaluate_on_exit[1] (on_status_reason 'Task failed to start') says RETRY"),
        id="user-guide-example-task-failed-to-start",
    ),
    pytest.param(
        FINAL_ENTRY,
        3,
        USER_GUIDE_EXAMPLE,
        EXIT_2,
        1,
        final("evaluate_on_exit[2] (on_reason '*') says EXIT"),
        id="user-guide-example-exit-2",
    ),
    pytest.param(
        FINAL_ENTRY,
        3,
        USER_GUIDE_EXAMPLE,
        SPOT,
        1,
        final("evaluate_on_exit[2] (on_reason '*') says EXIT"),
        id="user-guide-example-spot",
    ),
    pytest.param(
        FINAL_ENTRY,
        5,
        HOST_EC2_EXAMPLE,
        HOST_GONE,
        1,
        retried("evaluate_on_exit[0] (on_status_reason 'Host EC2*') says RETRY"),
        id="host-ec2-terminated",
    ),
    pytest.param(
        FINAL_ENTRY,
        5,
        HOST_EC2_EXAMPLE,
        HOST_GONE,
        5,
        final("attempts used (5/5)"),
        id="host-ec2-attempts-used",
    ),
    pytest.param(
        FINAL_ENTRY,
        5,
        HOST_EC2_EXAMPLE,
        SPOT,
        1,
        final("evaluate_on_exit[1] (on_reason '*') says EXIT"),
        id="host-ec2-rule-is-not-fargate-spot",
    ),
    pytest.param(
        FINAL_ENTRY,
        5,
        HOST_EC2_EXAMPLE,
        EXIT_2,
        1,
        final("evaluate_on_exit[1] (on_reason '*') says EXIT"),
        id="host-ec2-example-exit-2",
    ),
    pytest.param(
        EXIT_CODE_GLOB,
        3,
        (exit_(on_exit_code="13*"),),
        OOM,
        1,
        final("evaluate_on_exit[0] (on_exit_code '13*') says EXIT"),
        id="exit-code-glob-137",
    ),
    pytest.param(
        EXIT_CODE_GLOB,
        3,
        (exit_(on_exit_code="13*"),),
        SPOT,
        1,
        retried(NO_RULE_MATCHED),
        id="exit-code-glob-143",
    ),
    pytest.param(
        EXIT_CODE_GLOB,
        3,
        (exit_(on_exit_code="13*"),),
        IMAGE_PULL,
        1,
        retried(NO_RULE_MATCHED),
        id="exit-code-glob-no-exit-code",
    ),
    pytest.param(TERMINATED, 3, (), USER, 1, final(USER_STOP), id="user-stop"),
    pytest.param(
        TERMINATED,
        3,
        (retry(on_reason="*"),),
        USER,
        1,
        final(f"{USER_STOP}, even though evaluate_on_exit[0] (on_reason '*') says RETRY"),
        id="user-stop-even-when-a-rule-says-retry",
    ),
    pytest.param(TERMINATED, 3, (), SCHEDULER, 1, final(SCHEDULER_STOP), id="service-scheduler-stop"),
    pytest.param(TIMEOUT, 3, (), TIMED_OUT, 1, final(NOT_AFTER_TIMEOUT), id="timed-out"),
    pytest.param(
        TIMEOUT,
        3,
        (retry(on_reason="*"),),
        TIMED_OUT,
        1,
        final(f"{NOT_AFTER_TIMEOUT}, even though evaluate_on_exit[0] (on_reason '*') says RETRY"),
        id="timed-out-a-catch-all-retry-is-not-enough",
    ),
    pytest.param(
        TIMEOUT,
        3,
        (retry(on_outcome=Outcome.TIMED_OUT),),
        TIMED_OUT,
        1,
        retried("evaluate_on_exit[0] (on_outcome 'timed_out') says RETRY"),
        id="timed-out-opted-in",
    ),
    pytest.param(
        TIMEOUT,
        3,
        (retry(on_outcome=Outcome.TIMED_OUT),),
        TIMED_OUT,
        3,
        final("attempts used (3/3)"),
        id="timed-out-opted-in-attempts-used",
    ),
]


@pytest.mark.parametrize(
    ("quote", "attempts", "evaluate_on_exit", "stop", "attempt", "expected"), BATCH_TABLE
)
def test_the_decision_follows_aws_batch(
    report_of: ReportOf,
    *,
    quote: str,
    attempts: int,
    evaluate_on_exit: tuple[ExitRule, ...],
    stop: Stop,
    attempt: int,
    expected: RetryDecision,
) -> None:
    report = report_of(stop.sample, stop.change)
    assert (report.outcome, report.exit_code) == (stop.outcome, stop.exit_code)
    assert quote in _flat(policy_module.__doc__)

    decision = decide(report, rules(*evaluate_on_exit, attempts=attempts), attempt=attempt)

    assert decision == expected


def test_attempts_3_without_rules_retries_a_plain_exit_1_as_aws_batch_does(report_of: ReportOf) -> None:
    # The defect this table replaced: exit 1 under `retry: {attempts: 3}` was never retried.
    report = report_of("stopped-sidecar-app-failed")
    assert (report.outcome, report.exit_code) == (Outcome.FAILED, 1)

    decision = decide(report, rules(), attempt=1)

    assert decision == RetryDecision(RetryAction.RETRY, NO_RULES, delay_seconds=60, next_attempt=2)


@pytest.mark.parametrize("quote", QUOTES)
def test_the_readme_retry_section_quotes_aws_batch(quote: str) -> None:
    readme = _flat((Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8"))
    section = readme[readme.index("## Retries") :]

    assert quote in section


def _flat(text: str | None) -> str:
    return " ".join((text or "").split())


# --------------------------------------------------------------------------- what never retries


def test_a_run_that_succeeded_is_never_retried_even_by_a_catch_all_rule(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-success"), rules(retry(on_reason="*")), attempt=1)

    assert decision == RetryDecision(RetryAction.EXIT, "the run succeeded")


def test_a_running_task_has_nothing_to_retry(report_of: ReportOf) -> None:
    decision = decide(report_of("running-fargate"), rules(retry(on_reason="*")), attempt=1)

    assert decision == RetryDecision(RetryAction.EXIT, "the task has not stopped yet")


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        (retry(on_outcome=Outcome.STOPPED_BY_USER), "evaluate_on_exit[0] (on_outcome 'stopped_by_user')"),
        (retry(on_exit_code="137"), "evaluate_on_exit[0] (on_exit_code '137')"),
        (retry(on_reason="*"), "evaluate_on_exit[0] (on_reason '*')"),
    ],
)
def test_a_task_a_user_stopped_is_not_retried_even_when_a_rule_says_retry_and_the_reason_says_so(
    report_of: ReportOf, rule: ExitRule, named: str
) -> None:
    decision = decide(report_of("stopped-user"), rules(rule), attempt=1)

    assert decision == RetryDecision(RetryAction.EXIT, f"{USER_STOP}, even though {named} says RETRY")


def test_a_service_task_the_scheduler_stopped_is_not_retried_even_when_a_rule_says_retry(
    report_of: ReportOf,
) -> None:
    policy = rules(retry(on_outcome=Outcome.STOPPED_BY_SCHEDULER))

    decision = decide(report_of("stopped-service-task"), policy, attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT,
        f"{SCHEDULER_STOP}, even though evaluate_on_exit[0] (on_outcome 'stopped_by_scheduler') says RETRY",
    )


def test_an_exit_rule_that_holds_for_a_user_stop_is_not_named(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-user"), rules(exit_(on_reason="*")), attempt=1)

    assert decision.reason == USER_STOP


def test_the_host_terminated_stop_used_above_is_classified_as_infrastructure(report_of: ReportOf) -> None:
    report = report_of("stopped-nonzero-exit", host_terminated)

    assert (report.outcome, report.event.stopped_reason) == (Outcome.INFRASTRUCTURE, HOST_TERMINATED)


# --------------------------------------------------------------------------- rules


def test_the_exit_code_is_the_deciding_containers_not_the_sidecars(report_of: ReportOf) -> None:
    # The datadog-agent sidecar exited 0; only the app's exit 2 counts, so this rule does not hold.
    decision = decide(report_of("stopped-nonzero-exit"), rules(exit_(on_exit_code="0")), attempt=1)

    assert decision.reason == NO_RULE_MATCHED


@pytest.mark.parametrize(
    ("pattern", "sample", "matches"),
    [
        ("1*", "stopped-sidecar-app-failed", True),  # exit 1
        ("1*", "stopped-spot-interrupted", True),  # exit 143
        ("1*", "stopped-nonzero-exit", False),  # exit 2
        ("14?", "stopped-spot-interrupted", True),
        ("1*", "stopped-image-pull-failed", False),  # never ran: no exit code
        ("*", "stopped-image-pull-failed", True),  # a missing exit code is empty text, and * matches it
    ],
)
def test_exit_code_rules_are_globs_over_the_decimal_exit_code(
    report_of: ReportOf, pattern: str, sample: str, matches: bool
) -> None:
    decision = decide(report_of(sample), rules(exit_(on_exit_code=pattern)), attempt=1)

    assert decision.reason.startswith("evaluate_on_exit[0]") is matches


def test_a_rule_can_exit_where_batch_would_retry(report_of: ReportOf) -> None:
    policy = rules(exit_(on_status_reason="CannotPullContainerError:*pull access denied*"))

    decision = decide(report_of("stopped-image-pull-failed"), policy, attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT,
        "evaluate_on_exit[0] (on_status_reason 'CannotPullContainerError:*pull access denied*') says EXIT",
    )


def test_on_reason_reads_the_deciding_containers_reason(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-oom"), rules(exit_(on_reason="OutOfMemoryError*")), attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT, "evaluate_on_exit[0] (on_reason 'OutOfMemoryError*') says EXIT"
    )


def test_on_status_reason_reads_the_tasks_stopped_reason(report_of: ReportOf) -> None:
    # The watchdog stops with StopTask (stopCode UserInitiated), yet this is a timeout, not a user's stop.
    # The rule holds (the decision names it), but only on_outcome: timed_out retries a timeout.
    decision = decide(
        report_of("stopped-timed-out"), rules(retry(on_status_reason="ecswatch watchdog:*")), attempt=1
    )

    assert decision == RetryDecision(
        RetryAction.EXIT,
        f"{NOT_AFTER_TIMEOUT}, even though "
        "evaluate_on_exit[0] (on_status_reason 'ecswatch watchdog:*') says RETRY",
    )


def test_a_missing_reason_matches_as_empty_text_so_star_matches_every_stop(report_of: ReportOf) -> None:
    # exit 2 carries no container reason; AWS Batch's catch-all `onReason: "*"` still holds.
    decision = decide(report_of("stopped-nonzero-exit"), rules(exit_(on_reason="*")), attempt=1)

    assert decision.reason == "evaluate_on_exit[0] (on_reason '*') says EXIT"


def test_globs_are_case_sensitive(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-oom"), rules(exit_(on_reason="outofmemoryerror*")), attempt=1)

    assert decision.reason == NO_RULE_MATCHED


def test_a_rule_with_all_its_conditions_holding_decides(report_of: ReportOf) -> None:
    policy = rules(exit_(on_exit_code="2", on_outcome=Outcome.FAILED))

    decision = decide(report_of("stopped-nonzero-exit"), policy, attempt=1)

    assert decision.reason == "evaluate_on_exit[0] (on_exit_code '2', on_outcome 'failed') says EXIT"


def test_the_first_matching_rule_decides(report_of: ReportOf) -> None:
    report = report_of("stopped-nonzero-exit")

    exit_first = decide(report, rules(exit_(on_exit_code="2"), retry(on_outcome=Outcome.FAILED)), attempt=1)
    retry_first = decide(report, rules(retry(on_outcome=Outcome.FAILED), exit_(on_exit_code="2")), attempt=1)

    assert (exit_first.action, retry_first.action) == (RetryAction.EXIT, RetryAction.RETRY)


def test_rules_that_do_not_match_are_skipped_and_the_index_names_the_one_that_did(
    report_of: ReportOf,
) -> None:
    policy = rules(exit_(on_exit_code="137"), exit_(on_outcome=Outcome.TIMED_OUT), retry(on_exit_code="2"))

    decision = decide(report_of("stopped-nonzero-exit"), policy, attempt=1)

    assert decision.reason == "evaluate_on_exit[2] (on_exit_code '2') says RETRY"


# --------------------------------------------------------------------------- attempts


def test_the_next_attempt_follows_the_one_that_stopped(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-nonzero-exit"), rules(retry(on_exit_code="2")), attempt=2)

    assert (decision.action, decision.next_attempt) == (RetryAction.RETRY, 3)


def test_an_exit_rule_is_named_even_when_the_attempts_are_used(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-nonzero-exit"), rules(exit_(on_exit_code="2")), attempt=3)

    assert decision.reason == "evaluate_on_exit[0] (on_exit_code '2') says EXIT"


def test_an_attempt_beyond_the_policy_also_stops(report_of: ReportOf) -> None:
    # The config may have lowered attempts while a run was being retried.
    decision = decide(report_of("stopped-spot-interrupted"), rules(attempts=2), attempt=5)

    assert decision == RetryDecision(RetryAction.EXIT, "attempts used (5/2)")


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_are_numbered_from_one(report_of: ReportOf, attempt: int) -> None:
    with pytest.raises(ValueError, match=f"attempt numbers start at 1, not {attempt}"):
        decide(report_of("stopped-spot-interrupted"), rules(), attempt=attempt)


# --------------------------------------------------------------------------- the demo's config


def test_the_demo_invoice_export_policy_retries_exit_2_but_not_exit_1(report_of: ReportOf) -> None:
    job = load_config(DEMO_JOBS_CONFIG).job("invoice-export")
    assert job is not None

    exit_2 = decide(report_of("stopped-nonzero-exit"), job.retry, attempt=1, rng=random.Random(1))
    exit_1 = decide(
        report_of("stopped-nonzero-exit", lambda d: d["containers"][1].update(exitCode=1)),
        job.retry,
        attempt=1,
    )

    assert (exit_2.action, exit_1.action) == (RetryAction.RETRY, RetryAction.EXIT)


def test_the_demo_data_sync_policy_gives_up_on_an_image_that_does_not_exist(report_of: ReportOf) -> None:
    job = load_config(DEMO_JOBS_CONFIG).job("data-sync")
    assert job is not None

    decision = decide(report_of("stopped-image-pull-failed"), job.retry, attempt=1)

    assert decision.action is RetryAction.EXIT


def test_the_shipped_config_says_what_it_means_under_batchs_rule() -> None:
    assert semantics_notes(load_config(SHIPPED)) == []
    assert semantics_notes(load_config(DEMO_JOBS_CONFIG)) == []


# ---------------------------------------------------------------------- configs made for the old default


def config_of(retry_block: dict[str, Any], *, defaults: dict[str, Any] | None = None) -> JobsConfig:
    data: dict[str, Any] = {
        "jobs": {"orders-load": {"match": {"family": "orders-load"}, "retry": retry_block}}
    }
    if defaults is not None:
        data["defaults"] = {"retry": defaults}
    return parse_config(data, "jobs.yaml")


def test_attempts_without_rules_is_reported_with_the_rules_that_keep_the_old_behaviour() -> None:
    notes = semantics_notes(config_of({"attempts": 3}))

    assert notes == [
        "jobs.yaml: jobs.orders-load.retry: attempts 3 now retries the non-zero exits (failed) and "
        "out-of-memory kills that no rule matches, as AWS Batch does (before, they were not retried). "
        "To keep not retrying them, add evaluate_on_exit: "
        "[{on_outcome: failed, action: EXIT}, {on_outcome: out_of_memory, action: EXIT}]; "
        'to retry them and silence this note, add evaluate_on_exit: [{on_reason: "*", action: RETRY}]'
    ]


def test_rules_that_name_some_exit_codes_are_reported_and_told_to_end_the_list() -> None:
    notes = semantics_notes(
        config_of({"attempts": 3, "evaluate_on_exit": [{"on_exit_code": "2", "action": "RETRY"}]})
    )

    assert len(notes) == 1
    assert (
        "end evaluate_on_exit with [{on_outcome: failed, action: EXIT}, {on_outcome: out_of_memory"
        in notes[0]
    )


def test_only_the_outcome_no_rule_covers_is_named() -> None:
    notes = semantics_notes(
        config_of({"attempts": 3, "evaluate_on_exit": [{"on_outcome": "failed", "action": "EXIT"}]})
    )

    assert len(notes) == 1
    assert "now retries the out-of-memory kills that no rule matches" in notes[0]
    assert "[{on_outcome: out_of_memory, action: EXIT}]" in notes[0]


@pytest.mark.parametrize(
    "evaluate_on_exit",
    [
        [{"on_reason": "*", "action": "EXIT"}],
        [{"on_reason": "*", "action": "RETRY"}],
        [{"on_exit_code": "*", "action": "EXIT"}],
        [{"on_status_reason": "Host EC2*", "action": "RETRY"}, {"on_reason": "*", "action": "EXIT"}],
        [{"on_outcome": "failed", "action": "EXIT"}, {"on_outcome": "out_of_memory", "action": "RETRY"}],
        [
            {"on_outcome": "failed", "on_reason": "*", "action": "EXIT"},
            {"on_outcome": "out_of_memory", "action": "EXIT"},
        ],
    ],
)
def test_rules_that_cover_every_exit_and_memory_kill_say_what_they_mean(evaluate_on_exit: list[Any]) -> None:
    assert semantics_notes(config_of({"attempts": 3, "evaluate_on_exit": evaluate_on_exit})) == []


def test_a_rule_that_covers_only_some_exits_does_not_cover_the_outcome() -> None:
    block = {
        "attempts": 3,
        "evaluate_on_exit": [
            {"on_outcome": "failed", "on_exit_code": "1*", "action": "EXIT"},
            {"on_outcome": "out_of_memory", "action": "EXIT"},
        ],
    }

    assert len(semantics_notes(config_of(block))) == 1


def test_one_attempt_retries_nothing_so_there_is_nothing_to_report() -> None:
    assert semantics_notes(config_of({"attempts": 1})) == []


def test_defaults_that_retry_are_reported_under_their_own_path() -> None:
    notes = semantics_notes(config_of({"attempts": 1}, defaults={"attempts": 2}))

    assert [note.split(": ")[1] for note in notes] == ["defaults.retry"]


def test_following_the_suggestion_keeps_the_old_decisions_and_silences_the_note(report_of: ReportOf) -> None:
    config = config_of(
        {
            "attempts": 3,
            "evaluate_on_exit": [
                {"on_outcome": "failed", "action": "EXIT"},
                {"on_outcome": "out_of_memory", "action": "EXIT"},
            ],
        }
    )
    policy = config.jobs[0].retry

    decisions = {
        sample: decide(report_of(sample), policy, attempt=1, rng=random.Random(0)).action
        for sample in (
            "stopped-nonzero-exit",
            "stopped-oom",
            "stopped-image-pull-failed",
            "stopped-spot-interrupted",
        )
    }

    assert semantics_notes(config) == []
    assert decisions == {
        "stopped-nonzero-exit": RetryAction.EXIT,
        "stopped-oom": RetryAction.EXIT,
        "stopped-image-pull-failed": RetryAction.RETRY,
        "stopped-spot-interrupted": RetryAction.RETRY,
    }


# --------------------------------------------------------------------------- backoff


def test_without_jitter_the_delay_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [backoff_delay(NO_JITTER, attempt, random.Random(0)) for attempt in range(1, 10)]

    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_the_multiplier_sets_the_growth_and_fractions_round_to_whole_seconds() -> None:
    backoff = Backoff(base_seconds=10, max_seconds=1000, multiplier=1.5, jitter=Jitter.NONE)

    assert [backoff_delay(backoff, attempt, random.Random(0)) for attempt in (1, 2, 4)] == [10, 15, 34]


def test_a_huge_attempt_number_is_capped_without_overflowing() -> None:
    assert backoff_delay(NO_JITTER, 100_000, random.Random(0)) == 3600


def test_full_jitter_stays_between_zero_and_the_capped_exponential_value() -> None:
    backoff = Backoff(base_seconds=60, max_seconds=3600, multiplier=2.0, jitter=Jitter.FULL)
    rng = random.Random(42)

    for attempt, ceiling in ((1, 60), (3, 240), (9, 3600)):
        delays = [backoff_delay(backoff, attempt, rng) for _ in range(2000)]
        assert 0 <= min(delays) <= ceiling // 20
        assert ceiling - ceiling // 20 <= max(delays) <= ceiling


def test_full_jitter_is_repeatable_with_the_same_seed() -> None:
    backoff = Backoff(jitter=Jitter.FULL)

    first = [backoff_delay(backoff, 3, random.Random(7)) for _ in range(5)]
    second = [backoff_delay(backoff, 3, random.Random(7)) for _ in range(5)]

    assert first == second


def test_a_retry_waits_the_backoff_delay_drawn_from_the_given_random(report_of: ReportOf) -> None:
    backoff = Backoff(base_seconds=60, max_seconds=3600, multiplier=2.0, jitter=Jitter.FULL)
    policy = RetryPolicy(attempts=5, evaluate_on_exit=(retry(on_exit_code="2"),), backoff=backoff)

    decision = decide(report_of("stopped-nonzero-exit"), policy, attempt=3, rng=random.Random(99))

    assert decision.delay_seconds == backoff_delay(backoff, 3, random.Random(99))


def test_an_exit_carries_no_delay_and_no_next_attempt(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-user"), rules(), attempt=1)

    assert (decision.delay_seconds, decision.next_attempt) == (None, None)


# --------------------------------------------------------------------------- how the wait is carried


@pytest.mark.parametrize(("delay", "sqs"), [(0, True), (60, True), (900, True), (901, False), (7200, False)])
def test_waits_up_to_15_minutes_ride_on_sqs_and_longer_ones_on_eventbridge_scheduler(
    delay: int, sqs: bool
) -> None:
    assert via_sqs(delay) is sqs


def test_the_sqs_limit_is_sqs_delay_seconds_maximum() -> None:
    assert SQS_MAX_DELAY_SECONDS == 15 * 60
