"""The task-events function's one entry point: what a record is (a task's state change, or a RunTask
call that CloudTrail recorded), and what follows from it.

Each kind is read first (parsed and analysed: a run report, a failed launch, or a reason to skip),
then handled by its coordinator (:mod:`~ecswatch.coordinators.task_runs`,
:mod:`~ecswatch.coordinators.failed_launches`). The two steps are apart so the handler can put the
run's task and job on its log lines before any effect runs.
"""

from __future__ import annotations

from typing import Any

from ecswatch.analysis.failed_launch import FailedLaunch, process_launch_event
from ecswatch.analysis.pipeline import process_task_event
from ecswatch.config.model import JobsConfig
from ecswatch.config.settings import Settings
from ecswatch.coordinators.failed_launches import FailedLaunchCoordinator
from ecswatch.coordinators.shared import RunResult
from ecswatch.coordinators.task_runs import TaskRunCoordinator
from ecswatch.ports import LogReader, TaskDefinitions
from ecswatch.run import RunReport, Skipped

__all__ = ["FailedLaunch", "RunResult", "TaskEvents"]


class TaskEvents:
    def __init__(
        self,
        *,
        settings: Settings,
        jobs: JobsConfig,
        task_definitions: TaskDefinitions,
        logs: LogReader,
        runs: TaskRunCoordinator,
        launches: FailedLaunchCoordinator,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._task_definitions = task_definitions
        self._logs = logs
        self._runs = runs
        self._launches = launches

    def read_task_event(self, raw: Any) -> RunReport | Skipped:
        """An ECS Task State Change as a run report (task definition and log tail read), or why it
        is skipped. Raises MalformedEvent for unreadable input, TransientError when AWS should be retried."""
        return process_task_event(
            raw,
            settings=self._settings,
            task_definitions=self._task_definitions,
            logs=self._logs,
            jobs=self._jobs,
        )

    def handle_run(self, report: RunReport) -> RunResult:
        """The log line, alerts, retries, chained jobs, the history record."""
        return self._runs.handle(report)

    def read_launch(self, raw: Any) -> FailedLaunch | Skipped:
        """A RunTask call: a failed one is a failed run that no task will report; any other is skipped."""
        return process_launch_event(raw, settings=self._settings, jobs=self._jobs)

    def handle_failed_launch(self, failed: FailedLaunch) -> RunResult:
        """The alert, the retry (or the job's on_failure jobs), the history record."""
        return self._launches.handle(failed)
