"""Specification of ``ecswatch.retries.policy``: which stopped runs are tried again, after how long, and
what the decision says about why."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ecswatch.config.loader import load_config
from ecswatch.config.model import Backoff, ExitRule, Jitter, RetryPolicy
from ecswatch.config.settings import Settings
from ecswatch.retries.policy import (
    SQS_MAX_DELAY_SECONDS,
    RetryAction,
    RetryDecision,
    backoff_delay,
    decide,
    via_sqs,
)
from ecswatch.run import Outcome, RunReport
from tests.fakes import NoLogsExpected, SampleReport

SHIPPED = Path(__file__).parents[1] / "src" / "ecswatch" / "config" / "jobs.yaml"
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


def infrastructure_stop(detail: dict[str, Any]) -> None:
    detail["stoppedReason"] = MAINTENANCE


# --------------------------------------------------------------------------- what never retries


def test_a_run_that_succeeded_is_never_retried_even_by_a_catch_all_rule(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-success"), rules(retry(on_reason="*")), attempt=1)

    assert decision == RetryDecision(RetryAction.EXIT, "the run succeeded")


def test_a_running_task_has_nothing_to_retry(report_of: ReportOf) -> None:
    decision = decide(report_of("running-fargate"), rules(retry(on_reason="*")), attempt=1)

    assert decision == RetryDecision(RetryAction.EXIT, "the task has not stopped yet")


def test_a_task_a_user_stopped_is_not_retried(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-user"), rules(), attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT, "a user stopped the task, and a stop that someone meant is never retried"
    )


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

    assert decision == RetryDecision(
        RetryAction.EXIT,
        "a user stopped the task, and a stop that someone meant is never retried, "
        f"even though {named} says RETRY",
    )


# --------------------------------------------------------------------------- defaults without a matching rule


@pytest.mark.parametrize(
    ("sample", "change", "reason"),
    [
        ("stopped-image-pull-failed", None, "failed to start is retried by default"),
        ("stopped-secrets-failed", None, "failed to start is retried by default"),
        ("stopped-spot-interrupted", None, "spot interrupted is retried by default"),
        ("stopped-nonzero-exit", infrastructure_stop, "stopped by infrastructure is retried by default"),
    ],
)
def test_failures_a_new_run_can_fix_are_retried_by_default(
    report_of: ReportOf, sample: str, change: Callable[[dict[str, Any]], None] | None, reason: str
) -> None:
    decision = decide(report_of(sample, change), rules(), attempt=1)

    assert decision == RetryDecision(RetryAction.RETRY, reason, delay_seconds=60, next_attempt=2)


def test_the_maintenance_stop_used_above_is_classified_as_infrastructure(report_of: ReportOf) -> None:
    assert report_of("stopped-nonzero-exit", infrastructure_stop).outcome is Outcome.INFRASTRUCTURE


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (
            "stopped-timed-out",
            "timed out is not retried by default: a run that timed out would most likely time out again",
        ),
        (
            "stopped-oom",
            "out of memory is not retried by default: "
            "a run that ran out of memory would run out again with the same memory",
        ),
        (
            "stopped-nonzero-exit",
            "failed is not retried by default: "
            "a non-zero exit is retried only when an evaluate_on_exit rule says RETRY",
        ),
        (
            "stopped-service-task",
            "stopped by the service scheduler is not retried by default: "
            "the service scheduler replaces its own tasks",
        ),
    ],
)
def test_other_stops_are_not_retried_by_default(report_of: ReportOf, sample: str, reason: str) -> None:
    assert decide(report_of(sample), rules(), attempt=1) == RetryDecision(RetryAction.EXIT, reason)


# --------------------------------------------------------------------------- rules


def test_a_rule_retries_the_exit_code_it_names(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-nonzero-exit"), rules(retry(on_exit_code="2")), attempt=1)

    assert decision == RetryDecision(
        RetryAction.RETRY,
        "evaluate_on_exit[0] (on_exit_code '2') says RETRY",
        delay_seconds=60,
        next_attempt=2,
    )


def test_the_exit_code_is_the_deciding_containers_not_the_sidecars(report_of: ReportOf) -> None:
    # The datadog-agent sidecar exited 0; only the app's exit 2 counts.
    decision = decide(report_of("stopped-nonzero-exit"), rules(retry(on_exit_code="0")), attempt=1)

    assert decision.action is RetryAction.EXIT


@pytest.mark.parametrize(
    ("pattern", "sample", "matches"),
    [
        ("1*", "stopped-sidecar-app-failed", True),  # exit 1
        ("1*", "stopped-spot-interrupted", True),  # exit 143
        ("1*", "stopped-nonzero-exit", False),  # exit 2
        ("14?", "stopped-spot-interrupted", True),
        ("1*", "stopped-image-pull-failed", False),  # never ran: no exit code
    ],
)
def test_exit_code_rules_are_globs_over_the_decimal_exit_code(
    report_of: ReportOf, pattern: str, sample: str, matches: bool
) -> None:
    decision = decide(report_of(sample), rules(exit_(on_exit_code=pattern)), attempt=1)

    assert decision.reason.startswith("evaluate_on_exit[0]") is matches


def test_a_rule_can_exit_where_the_default_would_retry(report_of: ReportOf) -> None:
    policy = rules(exit_(on_status_reason="CannotPullContainerError:*pull access denied*"))

    decision = decide(report_of("stopped-image-pull-failed"), policy, attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT,
        "evaluate_on_exit[0] (on_status_reason 'CannotPullContainerError:*pull access denied*') says EXIT",
    )


def test_on_reason_reads_the_deciding_containers_reason(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-oom"), rules(retry(on_reason="OutOfMemoryError*")), attempt=1)

    assert (decision.action, decision.reason) == (
        RetryAction.RETRY,
        "evaluate_on_exit[0] (on_reason 'OutOfMemoryError*') says RETRY",
    )


def test_on_status_reason_reads_the_tasks_stopped_reason(report_of: ReportOf) -> None:
    # The watchdog stops with StopTask (stopCode UserInitiated), yet this is a timeout, not a user's stop.
    decision = decide(
        report_of("stopped-timed-out"), rules(retry(on_status_reason="ecswatch watchdog:*")), attempt=1
    )

    assert decision.action is RetryAction.RETRY


def test_a_missing_reason_matches_as_empty_text_so_star_matches_every_stop(report_of: ReportOf) -> None:
    # exit 2 carries no container reason; AWS Batch's catch-all `onReason: "*"` still holds.
    decision = decide(report_of("stopped-nonzero-exit"), rules(retry(on_reason="*")), attempt=1)

    assert decision.action is RetryAction.RETRY


def test_globs_are_case_sensitive(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-oom"), rules(retry(on_reason="outofmemoryerror*")), attempt=1)

    assert decision.action is RetryAction.EXIT


def test_every_condition_of_a_rule_must_hold(report_of: ReportOf) -> None:
    policy = rules(retry(on_exit_code="2", on_outcome=Outcome.OUT_OF_MEMORY))

    decision = decide(report_of("stopped-nonzero-exit"), policy, attempt=1)

    assert decision.reason.startswith("failed is not retried by default")


def test_a_rule_with_all_its_conditions_holding_decides(report_of: ReportOf) -> None:
    policy = rules(retry(on_exit_code="2", on_outcome=Outcome.FAILED))

    decision = decide(report_of("stopped-nonzero-exit"), policy, attempt=1)

    assert decision.reason == "evaluate_on_exit[0] (on_exit_code '2', on_outcome 'failed') says RETRY"


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


def test_when_the_attempts_are_used_up_it_gives_up_and_says_what_would_have_retried(
    report_of: ReportOf,
) -> None:
    decision = decide(report_of("stopped-nonzero-exit"), rules(retry(on_exit_code="2")), attempt=3)

    assert decision == RetryDecision(
        RetryAction.EXIT, "gave up after 3 attempts (evaluate_on_exit[0] (on_exit_code '2') says RETRY)"
    )


def test_a_policy_of_one_attempt_never_retries(report_of: ReportOf) -> None:
    decision = decide(report_of("stopped-spot-interrupted"), RetryPolicy(), attempt=1)

    assert decision == RetryDecision(
        RetryAction.EXIT, "gave up after 1 attempt (spot interrupted is retried by default)"
    )


def test_an_attempt_beyond_the_policy_also_gives_up(report_of: ReportOf) -> None:
    # The config may have lowered attempts while a run was being retried.
    decision = decide(report_of("stopped-spot-interrupted"), rules(attempts=2), attempt=5)

    assert decision.reason == "gave up after 2 attempts (spot interrupted is retried by default)"


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_are_numbered_from_one(report_of: ReportOf, attempt: int) -> None:
    with pytest.raises(ValueError, match=f"attempt numbers start at 1, not {attempt}"):
        decide(report_of("stopped-spot-interrupted"), rules(), attempt=attempt)


# --------------------------------------------------------------------------- the shipped config


def test_the_shipped_invoice_export_policy_retries_exit_2_but_not_exit_1(report_of: ReportOf) -> None:
    job = load_config(SHIPPED).job("invoice-export")
    assert job is not None

    exit_2 = decide(report_of("stopped-nonzero-exit"), job.retry, attempt=1, rng=random.Random(1))
    exit_1 = decide(
        report_of("stopped-nonzero-exit", lambda d: d["containers"][1].update(exitCode=1)),
        job.retry,
        attempt=1,
    )

    assert (exit_2.action, exit_1.action) == (RetryAction.RETRY, RetryAction.EXIT)


def test_the_shipped_data_sync_policy_gives_up_on_an_image_that_does_not_exist(report_of: ReportOf) -> None:
    job = load_config(SHIPPED).job("data-sync")
    assert job is not None

    decision = decide(report_of("stopped-image-pull-failed"), job.retry, attempt=1)

    assert decision.action is RetryAction.EXIT


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
    decision = decide(report_of("stopped-oom"), rules(), attempt=1)

    assert (decision.delay_seconds, decision.next_attempt) == (None, None)


# --------------------------------------------------------------------------- how the wait is carried


@pytest.mark.parametrize(("delay", "sqs"), [(0, True), (60, True), (900, True), (901, False), (7200, False)])
def test_waits_up_to_15_minutes_ride_on_sqs_and_longer_ones_on_eventbridge_scheduler(
    delay: int, sqs: bool
) -> None:
    assert via_sqs(delay) is sqs


def test_the_sqs_limit_is_sqs_delay_seconds_maximum() -> None:
    assert SQS_MAX_DELAY_SECONDS == 15 * 60
