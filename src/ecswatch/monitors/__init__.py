"""Datadog monitors as code, next to the dashboard: one JSON file per monitor, in the body that
Datadog's ``POST /api/v1/monitor`` takes. ``ecswatch datadog apply`` creates or updates them; each
carries the tags ``managed-by:ecswatch`` and ``ecswatch-monitor:<file name>``, which is how a later
apply finds the monitor it made. They query what ecswatch sends (``ecswatch.run.*`` metrics and the
tags of its events) and, for the dead-letter queues, the Datadog AWS integration's SQS metric."""
