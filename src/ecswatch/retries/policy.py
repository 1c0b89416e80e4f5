"""Whether a stopped run is tried again, and after how long: a pure function of the run's report.

Modelled on AWS Batch's retryStrategy, so its documentation explains the config:
``evaluate_on_exit`` rules are read in order, every condition a rule gives must hold, and the
first rule that holds decides. ``on_exit_code`` is matched against the deciding container's exit
code, ``on_reason`` against that container's reason, ``on_status_reason`` against the task's
``stoppedReason``, and ``on_outcome`` against the classified outcome. A missing value matches as
empty text, so ``on_reason: "*"`` matches every stop, as in Batch.

Where this differs from Batch, it is on purpose. Batch retries a failure that no rule matches.
Here, with no rule, only failures that a new run can fix are retried: failed to start, Spot
reclaimed, infrastructure. An exit code says the program itself failed, and running it again
repeats its side effects, so exits are retried only where a rule says so. A task that a user
stopped is never retried, whatever the rules say: someone meant that stop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ecswatch.config.model import Backoff, ExitRule, Jitter, RetryAction, RetryPolicy
from ecswatch.run import Outcome, RunReport

__all__ = [
    "SQS_MAX_DELAY_SECONDS",
    "RetryAction",
    "RetryDecision",
    "backoff_delay",
    "decide",
    "via_sqs",
]

#: SQS ``DelaySeconds`` goes up to 15 minutes. A longer wait needs an EventBridge Scheduler one-time schedule.
SQS_MAX_DELAY_SECONDS = 900

#: Failures a new run can fix, so they are retried when no rule says otherwise.
_RETRIED_BY_DEFAULT = frozenset({Outcome.FAILED_TO_START, Outcome.SPOT_INTERRUPTED, Outcome.INFRASTRUCTURE})

_NOT_RETRIED_WHY = {
    Outcome.TIMED_OUT: "a run that timed out would most likely time out again",
    Outcome.OUT_OF_MEMORY: "a run that ran out of memory would run out again with the same memory",
    Outcome.FAILED: "a non-zero exit is retried only when an evaluate_on_exit rule says RETRY",
    Outcome.STOPPED_BY_SCHEDULER: "the service scheduler replaces its own tasks",
}


@dataclass(frozen=True)
class RetryDecision:
    action: RetryAction
    #: One line for people: which rule or default decided, and why.
    reason: str
    #: Only for RETRY: how long to wait before the next attempt starts.
    delay_seconds: int | None = None
    #: Only for RETRY: the number of the attempt to start (the first run is attempt 1).
    next_attempt: int | None = None

    @property
    def retries(self) -> bool:
        return self.action is RetryAction.RETRY


def decide(
    report: RunReport, policy: RetryPolicy, attempt: int, *, rng: random.Random | None = None
) -> RetryDecision:
    """The decision after attempt number ``attempt`` (1 for the first run) stopped as ``report`` says.

    ``rng`` draws the backoff jitter; pass a seeded one for repeatable delays.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, not {attempt}")
    outcome = report.outcome
    if outcome is None:
        return _exit("the task has not stopped yet")
    if outcome is Outcome.SUCCEEDED:
        return _exit("the run succeeded")
    index, rule = _first_matching_rule(report, policy.evaluate_on_exit)
    if outcome is Outcome.STOPPED_BY_USER:
        return _exit(_user_stop_reason(index, rule))
    action, why = _action_for(outcome, index, rule)
    if action is RetryAction.EXIT:
        return _exit(why)
    if attempt >= policy.attempts:
        plural = "" if policy.attempts == 1 else "s"
        return _exit(f"gave up after {policy.attempts} attempt{plural} ({why})")
    delay = backoff_delay(policy.backoff, attempt, rng or random.Random())  # noqa: S311 -- jitter, not crypto
    return RetryDecision(RetryAction.RETRY, why, delay_seconds=delay, next_attempt=attempt + 1)


def backoff_delay(backoff: Backoff, attempt: int, rng: random.Random) -> int:
    """Seconds to wait after attempt ``attempt`` failed: exponential, capped, then (full) jitter.

    With full jitter the wait is uniform between 0 and the capped exponential value, which
    spreads out the retries of many runs that failed together (AWS Architecture Blog,
    "Exponential Backoff And Jitter").
    """
    ceiling = float(backoff.base_seconds)
    for _ in range(attempt - 1):  # stepwise, so a huge attempt number cannot overflow a float
        if ceiling >= backoff.max_seconds:
            break
        ceiling *= backoff.multiplier
    ceiling = min(ceiling, float(backoff.max_seconds))
    if backoff.jitter is Jitter.NONE:
        return round(ceiling)
    return round(rng.uniform(0.0, ceiling))


def via_sqs(delay_seconds: int) -> bool:
    """True when SQS ``DelaySeconds`` can carry the wait; else an EventBridge Scheduler one-time schedule."""
    return delay_seconds <= SQS_MAX_DELAY_SECONDS


def _exit(reason: str) -> RetryDecision:
    return RetryDecision(RetryAction.EXIT, reason)


def _first_matching_rule(
    report: RunReport, rules: tuple[ExitRule, ...]
) -> tuple[int, ExitRule] | tuple[None, None]:
    facts = _facts(report)
    for index, rule in enumerate(rules):
        if _holds(rule, facts):
            return index, rule
    return None, None


def _facts(report: RunReport) -> dict[str, str]:
    """The texts the rules' globs read; a missing value is empty text."""
    container = report.event.container(report.deciding_container) if report.deciding_container else None
    return {
        "on_exit_code": "" if report.exit_code is None else str(report.exit_code),
        "on_reason": (container.reason if container else None) or "",
        "on_status_reason": report.event.stopped_reason or "",
        "on_outcome": report.outcome.value if report.outcome else "",
    }


def _holds(rule: ExitRule, facts: dict[str, str]) -> bool:
    conditions = {
        "on_exit_code": rule.on_exit_code,
        "on_reason": rule.on_reason,
        "on_status_reason": rule.on_status_reason,
        "on_outcome": rule.on_outcome.value if rule.on_outcome else None,
    }
    return all(pattern is None or fnmatchcase(facts[name], pattern) for name, pattern in conditions.items())


def _user_stop_reason(index: int | None, rule: ExitRule | None) -> str:
    reason = "a user stopped the task, and a stop that someone meant is never retried"
    if rule is not None and rule.action is RetryAction.RETRY:
        return f"{reason}, even though {_rule_name(index, rule)} says RETRY"
    return reason


def _action_for(outcome: Outcome, index: int | None, rule: ExitRule | None) -> tuple[RetryAction, str]:
    if rule is not None:
        return rule.action, f"{_rule_name(index, rule)} says {rule.action.value}"
    if outcome in _RETRIED_BY_DEFAULT:
        return RetryAction.RETRY, f"{outcome.label} is retried by default"
    why = _NOT_RETRIED_WHY.get(outcome, f"{outcome.label} is not retried by default")
    return RetryAction.EXIT, f"{outcome.label} is not retried by default: {why}"


def _rule_name(index: int | None, rule: ExitRule) -> str:
    return f"evaluate_on_exit[{index}] ({rule.describe()})"
