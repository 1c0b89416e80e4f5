"""Dependency chains: "run B after A succeeds" (``on_success``) and "run C after A fails" (``on_failure``).

A chain link fires when the *final* attempt of a run of A ends: a success, or a failure that the
retry policy will not retry (EXIT, or attempts used up). A failure that will be retried is not
the end of the run, so it starts nothing; a retry of A that then succeeds starts B, once.

How each property is kept:

* **Exactly once.** The link's once-key is ``chain#<root run of A>#<B>`` (the root, not the
  attempt's task: every attempt of one run shares it), claimed with the ``OnceGuard`` where the
  task-events function queues the launch and again (``launch#chain#...``) where the launcher
  calls RunTask. RunTask's ``clientToken`` is derived from the same key, so even a launch that
  got past both guards finds the task the first call started instead of starting another. The
  key names A's run rather than the chain id so that a job reached twice in one chain (A starts
  B and C, and both start D) runs once per run that starts it, as the config says.
* **One place calls RunTask.** The task-events function does not start B itself: it puts a
  launch request on the retry queue (delay 0) and the retry launcher, the only function with
  ``ecs:RunTask`` (scoped to ``RetryTaskDefinitionFamilies``) and ``iam:PassRole``, starts it,
  exactly as it starts retries. A launch ECS refuses is alerted the same way as a retry's.
* **Visible.** A's thread gets "starting B, C"; B's lineage records the chain id, A's task and
  A's job, so B's alert says "Triggered by A (task ...)" with a console link to A's task and B's
  Datadog event carries ``chain_id:<id>``. B's retries and the jobs B starts keep the chain id.

The chain id is the task id of the root run of the job that started the chain: readable, unique,
and pasteable into the ECS console (``launch:<CloudTrail eventID>`` when that run's first launch
created no task).

**A run can end without a task stopping.** A launch that created no task and will not be tried
again (a failed RunTask the policy does not retry, a retry ECS refuses, a retry the launcher
abandons) is the failed end of its run: it starts the job's ``on_failure`` jobs (never
``on_success``) through :class:`RunEnd`, with the same keys, queue and thread reply as a stop.
A chain launch that fails is not such an end: the job it should have started never ran, so
nothing of that job's ``on_failure`` starts; the failure is told in the triggering run's thread.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from ecswatch.config.model import JobConfig, JobsConfig
from ecswatch.notifications import words
from ecswatch.retries.request import request_from_job
from ecswatch.run import Alert, Attempt, ChainLink, Lineage, Outcome, RetryRequest, RunReport


class InChain(Protocol):
    """What a run inherits of the chain that started it: a task's lineage, or the request that
    launches its next attempt (both carry the chain through a run's retries)."""

    @property
    def chain_id(self) -> str | None: ...

    @property
    def triggered_by(self) -> str | None: ...

    @property
    def triggered_by_job(self) -> str | None: ...


class RunEnd(msgspec.Struct, frozen=True):
    """A run that ended for good and starts the jobs of ``chain.starts``: all a link needs of it.

    Either its final task stopped (:func:`run_end`) or its last launch created no task and will
    not be tried again (:func:`failed_end`); both start the next jobs through the same code.
    """

    job: str
    #: The run's root: its first task's ARN, or ``launch:<eventID>`` when its first launch failed.
    root_run_id: str
    #: The task (or failed launch) the run ended with: the started jobs' "triggered by".
    last_run_id: str
    region: str
    chain: ChainLink
    succeeded: bool

    @property
    def ended(self) -> str:
        return "succeeded" if self.succeeded else "failed"


def chain_id_for(root_task_arn: str) -> str:
    """The id of a chain that a run with this root starts: the root task's id; a run whose first
    launch created no task keeps its whole ``launch:<eventID>`` (a CloudTrail event id has no "/")."""
    return root_task_arn.rsplit("/", 1)[-1]


def next_jobs(report: RunReport, job: JobConfig) -> tuple[str, ...]:
    """The jobs a run's final attempt starts: ``on_success`` after a success, else ``on_failure``.

    Every end other than success counts as a failure here, a user's StopTask included: a clean-up
    job is there for runs that did not finish their work.
    """
    if report.outcome is None:
        return ()
    return job.on_success if report.outcome is Outcome.SUCCEEDED else job.on_failure


def chain_link(
    job: JobConfig, lineage: InChain | None, root_task_arn: str, *, starts: tuple[str, ...]
) -> ChainLink | None:
    """This run's place in a chain: inherited from its lineage (a chain started it), or a new chain
    when its job can start others; None for a run that is in no chain."""
    if lineage is not None and lineage.chain_id:
        return ChainLink(lineage.chain_id, lineage.triggered_by, lineage.triggered_by_job, starts)
    if job.on_success or job.on_failure:
        return ChainLink(chain_id_for(root_task_arn), starts=starts)
    return None


def chain_of(lineage: Lineage | None) -> ChainLink | None:
    """The chain a task's lineage says it belongs to (for the next attempt of a chained run)."""
    if lineage is None or not lineage.chain_id:
        return None
    return ChainLink(lineage.chain_id, lineage.triggered_by, lineage.triggered_by_job)


def run_end(report: RunReport, attempt: Attempt) -> RunEnd | None:
    """A run's final stop, with the chain place (and the jobs it starts) the coordinator gave it."""
    if attempt.chain is None:
        return None
    return RunEnd(
        job=report.job,
        root_run_id=attempt.root_task_arn or report.event.task.arn,
        last_run_id=report.event.task.arn,
        region=report.event.task.region,
        chain=attempt.chain,
        succeeded=report.outcome is Outcome.SUCCEEDED,
    )


def failed_end(
    job: JobConfig, inherited: InChain | None, *, root_run_id: str, last_run_id: str, region: str
) -> RunEnd | None:
    """A run that ended for good with no task stopping: a failure, so it starts ``on_failure`` only,
    in the chain it inherited (a retry of a chained job) or a new one named after its root.
    None when the job starts nothing, so such an end costs nothing."""
    if not job.on_failure:
        return None
    chain = chain_link(job, inherited, root_run_id, starts=job.on_failure)
    if chain is None:
        return None
    return RunEnd(job.name, root_run_id, last_run_id, region, chain, succeeded=False)


def failed_retry_end(job: JobConfig | None, request: RetryRequest) -> RunEnd | None:
    """A retry (``request``) that will never start: its run ended with the attempt before it."""
    if job is None:
        return None
    return failed_end(
        job,
        request,
        root_run_id=request.root_task_arn,
        last_run_id=request.previous_task_arn,
        region=request.region,
    )


def launch_requests(end: RunEnd, jobs: JobsConfig) -> list[RetryRequest]:
    """One launch request per job the run starts, built from each job's ``launch`` and ``network``."""
    chain = end.chain
    requests = []
    for name in chain.starts:
        target = jobs.job(name)
        if target is None or target.launch is None:
            continue  # the config is validated at load: a chain target always exists and has a launch
        requests.append(
            request_from_job(
                target,
                after_run=end.last_run_id,
                region=end.region,
                root_task_arn=end.root_run_id,
                after_job=end.job,
                chain_id=chain.chain_id,
                reason=f"{end.job} {end.ended} (chain {chain.chain_id})",
            )
        )
    return requests


def lineage_of_chained(request: RetryRequest, task_arn: str) -> Lineage:
    """A task a chain started is attempt 1 of a run of its own, in the chain of the run that started it."""
    return Lineage(
        root_task_arn=task_arn,
        attempt=1,
        of=request.of,
        job=request.job,
        network=request.network_configuration,
        chain_id=request.chain_id,
        triggered_by=request.triggered_by,
        triggered_by_job=request.triggered_by_job,
    )


def starting_news(end: RunEnd) -> Alert:
    """The reply in A's thread: which jobs its end starts."""
    chain = end.chain
    started = ", ".join(chain.starts)
    return Alert(
        run_key=end.root_run_id,
        job=end.job,
        title=words.chain_starting(end.job, end.ended, started),
        severity="info",
        outcome="chain",
        cause=words.chain_starting_cause(end.job, succeeded=end.succeeded, started=started),
        fields=(("Chain", chain.chain_id), ("Starts", started)),
        links=(),
    )


def not_started_news(request: RetryRequest, why: str) -> Alert:
    """A chain link that could not be launched: said in A's thread (or B's channel), never dropped."""
    return Alert(
        run_key=request.root_task_arn,
        job=request.job,
        title=words.chain_not_started(request.job, request.triggered_by_job),
        severity="error",
        outcome="chain",
        cause=why,
        fields=(
            ("Chain", request.chain_id or "-"),
            ("Triggered by", request.triggered_by_job or "-"),
            ("Task definition", request.task_definition_arn),
            ("Cluster", request.cluster),
        ),
        links=(),
    )
