"""Warnings about a valid config: what it now means that its author may not have meant.

Printed by the config check (``python -m ecswatch.config``), which still exits 0: the file is valid
and its reading is the documented one, but a line naming the job and the rule that keeps the old
behaviour saves a surprise at 3 a.m.
"""

from __future__ import annotations

from ecswatch.config.model import ExitRule, JobsConfig, RetryPolicy
from ecswatch.run import Outcome


def semantics_notes(config: JobsConfig) -> list[str]:
    """Warnings for retry policies that relied on the rule before AWS Batch's, one line each.

    Before, a failure that no rule matched was retried only when the run failed to start, was a
    Spot interruption or an infrastructure stop. Now, as in Batch, any failure is. A policy with
    ``attempts`` above 1 in which no rule covers every ``failed`` (a non-zero exit) or every
    ``out_of_memory`` stop now retries such stops; each line names the policy and the rules that
    keep the old behaviour, or the rule that accepts the new one. Either rule silences the note.
    A warning, not an error: the config is valid, and Batch's reading of it is the documented one.
    """
    policies = [("defaults.retry", config.defaults.retry)]
    policies += [(f"jobs.{job.name}.retry", job.retry) for job in config.jobs]
    notes = []
    for path, policy in policies:
        uncovered = _now_retried(policy)
        if uncovered:
            notes.append(f"{config.source}: {path}: {_note(policy, uncovered)}")
    return notes


#: Outcomes that no rule matched and that were not retried before, and now are.
_NEWLY_RETRIED = (Outcome.FAILED, Outcome.OUT_OF_MEMORY)


def _now_retried(policy: RetryPolicy) -> list[Outcome]:
    if policy.attempts == 1:
        return []
    return [o for o in _NEWLY_RETRIED if not any(_covers(r, o) for r in policy.evaluate_on_exit)]


def _covers(rule: ExitRule, outcome: Outcome) -> bool:
    """True when ``rule`` holds for every stop with ``outcome``: its globs are all ``*``."""
    if rule.on_outcome is not None and rule.on_outcome is not outcome:
        return False
    globs = (rule.on_exit_code, rule.on_reason, rule.on_status_reason)
    return all(pattern in (None, "*") for pattern in globs)


def _note(policy: RetryPolicy, uncovered: list[Outcome]) -> str:
    stops = " and ".join(_STOP_NAMES[o] for o in uncovered)
    keep = ", ".join(f"{{on_outcome: {o.value}, action: EXIT}}" for o in uncovered)
    where = "end evaluate_on_exit with" if policy.evaluate_on_exit else "add evaluate_on_exit:"
    return (
        f"attempts {policy.attempts} now retries the {stops} that no rule matches, as AWS Batch does "
        f"(before, they were not retried). To keep not retrying them, {where} [{keep}]; "
        f'to retry them and silence this note, {where} [{{on_reason: "*", action: RETRY}}]'
    )


_STOP_NAMES = {Outcome.FAILED: "non-zero exits (failed)", Outcome.OUT_OF_MEMORY: "out-of-memory kills"}
