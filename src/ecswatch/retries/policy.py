"""Whether a stopped run is tried again, and after how long: a pure function of the run's report.

The rule is AWS Batch's ``retryStrategy``, so Batch's documentation explains the config. In its
own words (AWS Batch API Reference, ``RetryStrategy`` and ``EvaluateOnExit``; AWS Batch User
Guide, "Automated job retries" and "Job timeouts"):

* ``attempts``: "The number of times to move a job to the RUNNABLE status. You can specify
  between 1 and 10 attempts. If the value of attempts is greater than one, the job is retried on
  failure the same number of attempts as the value."
* ``evaluateOnExit``: "Array of up to 5 objects that specify the conditions where jobs are
  retried or failed. If this parameter is specified, then the attempts parameter must also be
  specified. If none of the listed conditions match, then the job is retried."
* One entry: "Specifies an array of up to 5 conditions to be met, and an action to take (RETRY
  or EXIT) if all conditions are met. If none of the EvaluateOnExit conditions in a
  RetryStrategy match, then the job is retried."
* ``onExitCode``: "Contains a glob pattern to match against the decimal representation of the
  ExitCode returned for a job. [...] It can contain only numbers, and can end with an asterisk
  (*) so that only the start of the string needs to be an exact match." ``onReason`` and
  ``onStatusReason`` are globs over the Reason and StatusReason in the same way.
* The order: "If evaluateOnExit is specified, but none of the retry strategies match, then the
  job is retried. For jobs that don't match to exit, add a final entry that exits for any
  reason." Its example: ``[{"action": "RETRY", "onReason": "AGENT"}, {"action": "RETRY",
  "onStatusReason": "Task failed to start"}, {"action": "EXIT", "onReason": "*"}]``.
* "Jobs that are cancelled or terminated aren't retried."
* "If a job is terminated for exceeding the timeout duration, it isn't retried. If a job attempt
  fails on its own, then it can retry if retries are enabled, and the timeout countdown is
  started over for the new attempt."

Here, rules are read in order and the first whose conditions all hold decides.
``on_exit_code`` is matched against the deciding container's exit code, ``on_reason`` against
that container's reason, ``on_status_reason`` against the task's ``stoppedReason``, and
``on_outcome`` (ours, not Batch's) against the classified outcome. A missing value matches as
empty text, so ``on_reason: "*"`` matches every stop, as Batch's catch-all does. Without rules,
or when no rule holds, a failed run is retried until the attempts are used, as in Batch.

Two rules stand next to Batch's, each where Batch has a sentence of its own:

* A stop that someone meant is never retried, whatever the rules say: a user's StopTask (Batch:
  "Jobs that are cancelled or terminated aren't retried") and the service scheduler's stop of a
  service task (it replaces its own tasks; a copy started with RunTask would run outside the
  service).
* A run the watchdog stopped for exceeding ``max_run_time`` (outcome ``timed_out``) is not
  retried, as Batch does not retry a job terminated for exceeding its timeout, unless the rule
  that holds names ``on_outcome: timed_out``. Batch has no such opt-in; ecswatch's watchdog is
  a StopTask like a user's, so only a rule about timeouts can mean "retry it".

:func:`ecswatch.config.advice.semantics_notes` finds the configs that relied on the rule before
this one (a failure that no rule matched was retried only when the run failed to start, was a
Spot interruption or an infrastructure stop), so the config check can say which jobs now retry more.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
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

#: What Batch does with a failure that no rule holds for, as the decision says it.
_NO_RULES = "no evaluate_on_exit rules: retried as AWS Batch does"
_NO_RULE_MATCHED = "no rule matched: retried as AWS Batch does"

#: Stops that someone meant, never retried (see the module docstring), and why, for the alert.
_MEANT_STOPS = {
    Outcome.STOPPED_BY_USER: "a user stopped the task, and a stop that someone meant is never retried",
    Outcome.STOPPED_BY_SCHEDULER: (
        "the service scheduler stopped the task, and it replaces its own tasks: never retried"
    ),
}

#: The same, in the few words an alert's title carries.
_MEANT_BRIEF = {
    Outcome.STOPPED_BY_USER: "a user stopped it",
    Outcome.STOPPED_BY_SCHEDULER: "the service replaces its own tasks",
}
_TIMED_OUT_BRIEF = "timed out (AWS Batch does not retry a timeout)"

_TIMED_OUT = (
    "timed out: AWS Batch does not retry a job terminated for exceeding its timeout "
    "(a rule with on_outcome: timed_out can)"
)


@dataclass(frozen=True)
class RetryDecision:
    action: RetryAction
    #: One line for people: which rule or default decided, and why.
    reason: str
    #: Only for RETRY: how long to wait before the next attempt starts.
    delay_seconds: int | None = None
    #: Only for RETRY: the number of the attempt to start (the first run is attempt 1).
    next_attempt: int | None = None
    #: The few words an alert's title carries after "no retry: " ("exit 9 matched
    #: evaluate_on_exit[1] EXIT", "attempts used"); ``reason`` when not given.
    brief: str = field(default="", compare=False)

    @property
    def summary(self) -> str:
        return self.brief or self.reason

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
    index, rule = _first_matching_rule(report, policy.evaluate_on_exit)
    action, why, brief = _verdict(report, policy, index, rule)
    if action is RetryAction.EXIT:
        return _exit(why, brief)
    used = _attempts_used(policy, attempt)
    if used is not None:
        return _exit(*used)
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


def _exit(reason: str, brief: str = "") -> RetryDecision:
    return RetryDecision(RetryAction.EXIT, reason, brief=brief)


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


def _verdict(
    report: RunReport, policy: RetryPolicy, index: int | None, rule: ExitRule | None
) -> tuple[RetryAction, str, str]:
    """What the stop itself calls for, before counting attempts: the action, the reason, and the
    few words of it an alert's title carries."""
    outcome = report.outcome
    if outcome is None:
        return RetryAction.EXIT, "the task has not stopped yet", ""
    if outcome is Outcome.SUCCEEDED:
        return RetryAction.EXIT, "the run succeeded", ""
    if outcome in _MEANT_STOPS:
        return RetryAction.EXIT, _overruling(_MEANT_STOPS[outcome], index, rule), _MEANT_BRIEF[outcome]
    if outcome is Outcome.TIMED_OUT and (rule is None or rule.on_outcome is not Outcome.TIMED_OUT):
        return RetryAction.EXIT, _overruling(_TIMED_OUT, index, rule), _TIMED_OUT_BRIEF
    if rule is not None:
        brief = f"{_subject(report)} matched evaluate_on_exit[{index}] {rule.action.value}"
        return rule.action, f"{_rule_name(index, rule)} says {rule.action.value}", brief
    return RetryAction.RETRY, _NO_RULE_MATCHED if policy.evaluate_on_exit else _NO_RULES, ""


def _subject(report: RunReport) -> str:
    """What a rule matched, as an alert names it: the exit code of a run that exited, else its outcome."""
    if report.outcome is Outcome.FAILED and report.exit_code is not None:
        return f"exit {report.exit_code}"
    return report.outcome.label if report.outcome else "the stop"


def _attempts_used(policy: RetryPolicy, attempt: int) -> tuple[str, str] | None:
    """Why no attempt follows attempt number ``attempt`` under ``policy``, if none does (and in brief)."""
    if policy.attempts == 1:
        return "no retries configured (attempts: 1)", "no retries configured"
    if attempt >= policy.attempts:
        return f"attempts used ({attempt}/{policy.attempts})", "attempts used"
    return None


def _overruling(reason: str, index: int | None, rule: ExitRule | None) -> str:
    """``reason``, and the rule it overrules when that rule said RETRY: the alert shows both."""
    if rule is not None and rule.action is RetryAction.RETRY:
        return f"{reason}, even though {_rule_name(index, rule)} says RETRY"
    return reason


def _rule_name(index: int | None, rule: ExitRule) -> str:
    return f"evaluate_on_exit[{index}] ({rule.describe()})"
