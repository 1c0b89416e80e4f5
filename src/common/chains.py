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
and pasteable into the ECS console.
"""

from __future__ import annotations

from common.alerts import Alert, Attempt, ChainLink
from common.analysis import Outcome
from common.config import JobConfig, JobsConfig
from common.pipeline import RunReport
from common.ports import Lineage
from common.retry_request import RetryRequest


def chain_id_for(root_task_arn: str) -> str:
    """The id of a chain that a run with this root starts: the root task's id."""
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
    job: JobConfig, lineage: Lineage | None, root_task_arn: str, *, starts: tuple[str, ...]
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


def launch_requests(report: RunReport, attempt: Attempt, jobs: JobsConfig) -> list[RetryRequest]:
    """One launch request per job the run starts, built from each job's ``launch`` and ``network``."""
    chain = attempt.chain
    if chain is None:
        return []
    root = attempt.root_task_arn or report.event.task.arn
    ended = "succeeded" if report.outcome is Outcome.SUCCEEDED else "failed"
    requests = []
    for name in chain.starts:
        target = jobs.job(name)
        if target is None or target.launch is None:
            continue  # the config is validated at load: a chain target always exists and has a launch
        requests.append(
            RetryRequest.from_job(
                target,
                after=report.event,
                root_task_arn=root,
                after_job=report.job,
                chain_id=chain.chain_id,
                reason=f"{report.job} {ended} (chain {chain.chain_id})",
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


def starting_news(report: RunReport, attempt: Attempt) -> Alert:
    """The reply in A's thread: which jobs its end starts."""
    assert attempt.chain is not None
    chain = attempt.chain
    ended = "succeeded" if report.outcome is Outcome.SUCCEEDED else "failed"
    started = ", ".join(chain.starts)
    return Alert(
        run_key=attempt.root_task_arn or report.event.task.arn,
        job=report.job,
        title=f"{report.job} {ended}: starting {started}",
        severity="info",
        outcome="chain",
        cause=f"{'on_success' if ended == 'succeeded' else 'on_failure'} of {report.job} starts {started}",
        fields=(("Chain", chain.chain_id), ("Starts", started)),
        links=(),
    )


def not_started_news(request: RetryRequest, why: str) -> Alert:
    """A chain link that could not be launched: said in A's thread (or B's channel), never dropped."""
    return Alert(
        run_key=request.root_task_arn,
        job=request.job,
        title=f"{request.job} could not be started after {request.triggered_by_job or 'its trigger'}",
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
