"""Sinks that need no outside service: a structured log line and CloudWatch EMF metrics.

Every team gets these, with or without Datadog or Slack: the log line is what
Logs Insights queries, the EMF metrics feed the CloudWatch dashboard.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ecswatch.notifications.render import headline, summary
from ecswatch.run import RunPhase, RunReport

logger = Logger(child=True)


class LogSink:
    def publish(self, report: RunReport) -> None:
        level = logger.warning if report.is_failure else logger.info
        level(headline(report), extra={"run": summary(report)})


class EmfSink:
    """Run figures as EMF through Powertools Metrics (flushed by the handler's ``log_metrics``).

    Durations share the function's one dimension set, so a whole batch is one EMF
    blob; the run count needs an ``outcome`` dimension, so it is a single metric.
    Dimensions stay low-cardinality (no job, no task id) to keep CloudWatch costs flat;
    per-job breakdowns are what Datadog tags are for.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def publish(self, report: RunReport) -> None:
        d = report.durations
        if report.phase is RunPhase.STARTED:
            self._add("StartLatency", d.start_latency)
            self._add("ImagePullTime", d.image_pull)
            return
        self._add("RunDuration", d.run_time)
        if report.outcome is not None:
            with single_metric(
                name="Runs", unit=MetricUnit.Count, value=1, namespace=self._metrics.namespace
            ) as metric:
                metric.add_dimension(name="outcome", value=report.outcome.value)

    def _add(self, name: str, value: float | None) -> None:
        if value is not None:
            self._metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)
