"""The words on-call reads, in one place: the titles and one-line causes of every message ecswatch
sends that is not a run's own alert (retries' thread replies, chains, the watchdog, slow runs).

Each function takes the facts, already formatted (durations through ``human_duration``, moments
through the caller's clock format), and returns the sentence. Changing how a message reads means
changing it here, and the specification tests that quote the sentences say where it shows.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- retries


def retry_not_launched(attempt_label: str) -> str:
    return f"retry {attempt_label} could not be launched"


def attempt_started(attempt_label: str) -> str:
    return f"attempt {attempt_label} started"


def retry_scheduled_in(attempt_label: str, wait: str) -> str:
    return f"retry {attempt_label} scheduled in {wait}"


def recovered_on(job: str, attempt_label: str) -> str:
    return f"{job} recovered on attempt {attempt_label}"


def recovered_after(job: str, retries: int) -> str:
    return f"{job} recovered after {retries} {'retry' if retries == 1 else 'retries'}"


def retry_scheduled(job: str, next_label: str, wait: str) -> str:
    """The thread reply when a failed attempt is retried."""
    return f"{job}: {retry_scheduled_in(next_label, wait)}"


def retrying(job: str, next_label: str) -> str:
    """The first alert's title while a retry is on its way."""
    return f"{job} failed, retrying (attempt {next_label})"


def attempt_failed(job: str, attempt_label: str, reason: str) -> str:
    return f"{job} attempt {attempt_label} failed: {reason}"


def gave_up_after(job: str, attempts: int) -> str:
    return f"{job} gave up after {attempts} attempts"


def gave_up(job: str, what: str) -> str:
    """The first alert's new title once a run is over without success: ``<job> gave up: <what>``."""
    return f"{job} gave up: {what}"


# --------------------------------------------------------------------------- storms


def storm_roster(job: str, first: int, last: int, count: int) -> str:
    """A reply in a storm's thread that names runs its message has no room for."""
    return f"{job} failing: runs {first} to {last} of {count} in this storm"


def storm_named_in_thread(runs: int) -> str:
    """The storm message's line for the runs its thread names."""
    return f"… and {runs} more, named in the thread"


# --------------------------------------------------------------------------- dependency chains


def chain_starting(job: str, ended: str, started: str) -> str:
    return f"{job} {ended}: starting {started}"


def chain_starting_cause(job: str, *, succeeded: bool, started: str) -> str:
    return f"{'on_success' if succeeded else 'on_failure'} of {job} starts {started}"


def chain_not_started(job: str, after_job: str | None) -> str:
    return f"{job} could not be started after {after_job or 'its trigger'}"


# --------------------------------------------------------------------------- the watchdog


def running_too_long(job: str, ran: str, limit: str) -> str:
    return f"{job} running too long: {ran}, over its {limit} limit"


def not_started_after(job: str, waited: str, status: str) -> str:
    return f"{job} has not started after {waited} ({status})"


def did_not_run(job: str, expected: str) -> str:
    return f"{job} did not run: expected at {expected}"


def ran_again(job: str, started: str) -> str:
    return f"{job} ran again: started {started}"


def missed_then_ran(job: str, expected: str, started: str) -> str:
    return f"{job} missed its {expected} start; ran again {started}"


# --------------------------------------------------------------------------- slow runs


def ran_slow(job: str, run_time: str, usual: str) -> str:
    return f"{job} ran slow: {run_time}, usually {usual}"


# --------------------------------------------------------------------------- posting once (logs and errors)

#: Logged when a later attempt finds the message an earlier one posted (Slack answered too late).
POST_FOUND = "alert already posted by an earlier attempt (Slack answered after the timeout); not posted again"
#: Logged when the write that remembers a post fails and is tried again within the invocation.
REMEMBER_AGAIN = "the write that remembers a Slack post failed; trying again"
#: Logged when the earlier attempt's post cannot be looked for any longer and the alert is posted.
POST_UNCHECKED = "cannot tell whether an earlier attempt posted this alert; posting it (it may show twice)"
#: Logged when the lookup after a timeout is off (a webhook cannot look; a token lacks a scope).
LOOKUP_OFF = (
    "Slack lookup after a timeout is off: an alert whose post timed out may be posted twice; "
    "it needs the channels:history and groups:history scopes and a channel the bot can read"
)


def post_unknown(job: str, error: str) -> str:
    """Why an item waits for its redelivery instead of posting: Slack could not say whether the alert
    an earlier attempt posted is there."""
    return (
        f"cannot tell whether the alert of {job} was posted by an earlier attempt ({error}); "
        "trying again later rather than posting it twice"
    )


def history_scopes_missing(missing: str) -> str:
    """`ecswatch doctor`'s note on a token without the history scopes."""
    return f"the token lacks {missing}: an alert whose post timed out may be posted twice (no lookup)"
