"""decide -> act for notifications: which messages a run report causes, sent once each.

At-least-once delivery means any report may arrive twice, concurrently, or
after a partial failure. Three mechanisms make each message happen once:

* every outside effect runs inside ``guard.once(key)`` (Powertools Idempotency
  in production), keyed per sink and per report (``slack#<task arn>#stopped``),
  so a redelivery after a Slack outage re-sends Slack but not Datadog;
* failures of one job inside a window join one *storm* record with conditional
  writes; exactly one run claims the right to post, the others update that
  message (at milestones, to stay inside Slack's rate limits);
* the Slack message of a run is remembered (its thread), so later news about
  the run (a retry, a recovery) goes into that thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from ecswatch.config.routing import Routing
from ecswatch.effects import run_each
from ecswatch.notifications.alerts import alert_for, datadog_event, is_alertable, metric_points, storm_alert
from ecswatch.ports import ChatPoster, EventSink, NotificationState, OnceGuard, RunSink
from ecswatch.run import (
    FIRST_ATTEMPT,
    Alert,
    Attempt,
    DatadogEvent,
    MessageRef,
    MetricPoint,
    RunPhase,
    RunReport,
    StormJoin,
    StormState,
)


def is_update_milestone(count: int) -> bool:
    """Update a storm message at 2-5, then 10, 20, 50, 100, 200, 500 ...: a burst of 1,000
    failures costs ~12 updates, not 1,000 (chat.update is rate-limited per channel)."""
    if count <= 5:
        return count >= 2
    while count % 10 == 0:
        count //= 10
    return count in (1, 2, 5)


class Notifier:
    def __init__(
        self,
        *,
        guard: OnceGuard,
        routing: Callable[[str], Routing],
        chat: ChatPoster | None = None,
        events: EventSink | None = None,
        state: NotificationState | None = None,
        storm_window_seconds: int = 300,
        metrics: Sequence[RunSink] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._guard = guard
        self._routing = routing
        self._chat = chat
        self._events = events
        self._state = state
        self._window = storm_window_seconds
        self._metrics = tuple(metrics)
        self._clock = clock

    def publish(self, report: RunReport, attempt: Attempt = FIRST_ATTEMPT) -> None:
        """Every sink is tried even when another fails, then the first failure is raised.

        A Datadog outage must not hold back the Slack alert (or, after the retries, dead-letter it
        unsent); the redelivery the failure causes finds the sinks that succeeded already done.
        """
        self._run_all(self._steps(report, attempt))

    def _run_all(self, steps: list[tuple[str, Callable[[], None]]]) -> None:
        run_each(partial(self._guard.once, key, action) for key, action in steps)

    def _steps(self, report: RunReport, attempt: Attempt) -> list[tuple[str, Callable[[], None]]]:
        steps: list[tuple[str, Callable[[], None]]] = []
        if self._events is not None or self._metrics:
            steps.append((f"metrics#{report.key}", lambda: self._to_metrics(report, attempt)))
        chat, route = self._chat, self._routing(report.job)
        # A retry's result is news in the first alert's thread (RunCoordinator), not a new alert.
        first = attempt.number == 1
        if chat is not None and first and is_alertable(report, notify_success=route.notify_success):
            steps.append((f"slack#{report.key}", lambda: self._to_slack(chat, route, report, attempt)))
        return steps

    def announce(
        self,
        key: str,
        alert: Alert,
        *,
        event: DatadogEvent | None = None,
        points: Sequence[MetricPoint] = (),
    ) -> None:
        """A failure that is not a task report (a launch that created no task) through the same
        sinks, once each per ``key``: Datadog event and points, then Slack, joining the job's storm."""
        steps: list[tuple[str, Callable[[], None]]] = []
        events, chat = self._events, self._chat
        if events is not None:
            steps.append((f"metrics#{key}", lambda: self._event_and_points(events, event, points)))
        if chat is not None:
            route = self._routing(alert.job)
            steps.append((f"slack#{key}", lambda: self._alert_to_slack(chat, route, alert, failure=True)))
        self._run_all(steps)

    def follow_up(self, run_key: str, alert: Alert, *, update_parent: Alert | None = None) -> bool:
        """News about a run already alerted: reply in its thread, optionally refresh the parent message.

        Returns False when there is no thread to follow (never alerted, or webhook mode).
        The parent is refreshed first: an update can be repeated, a reply cannot, so when either
        fails the redelivery repeats the update and posts the reply once.
        """
        chat, state = self._chat, self._state
        ref = state.thread_for(run_key) if state else None
        if chat is None or ref is None or not ref.ts:
            return False
        if update_parent is not None and ref.own:
            chat.update(ref, update_parent)
        chat.post(ref.channel, alert, thread=ref)
        return True

    def reply_or_post(self, run_key: str, alert: Alert, *, update_parent: Alert | None = None) -> None:
        """News that must reach someone: in the run's thread, else alone in the job's channel."""
        if not self.follow_up(run_key, alert, update_parent=update_parent):
            self.post(alert.job, alert)

    def post(self, job: str, alert: Alert) -> MessageRef | None:
        """A standalone message to the job's channel (news with no thread to go into)."""
        if self._chat is None:
            return None
        return self._post_and_remember(self._chat, self._routing(job).channel, alert)

    def notify_watchdog(
        self,
        key: str,
        alert: Alert,
        *,
        event: DatadogEvent | None = None,
        reply_to: str | None = None,
        parent: Alert | None = None,
    ) -> None:
        """The watchdog's news (a run too long, a start stuck, a run missed or back): Datadog and Slack,
        once each per ``key``. A message of its own, never folded into a failure storm: it is about a
        run that has not failed (yet). With ``reply_to`` (an earlier alert's run key) it goes into that
        alert's thread and ``parent`` replaces the alert's text; without a thread it is posted alone."""
        steps: list[tuple[str, Callable[[], None]]] = []
        events, chat = self._events, self._chat
        if events is not None and event is not None:
            steps.append((f"datadog#{key}", lambda: events.send_event(event)))
        if chat is not None:
            channel = self._routing(alert.job).channel

            def to_slack() -> None:
                if reply_to is None or not self.follow_up(reply_to, alert, update_parent=parent):
                    self._post_and_remember(chat, channel, alert)  # remembered: a recovery threads here

            steps.append((f"slack#{key}", to_slack))
        self._run_all(steps)

    def register_lambda_context(self, context: object) -> None:
        self._guard.register_lambda_context(context)

    def flush(self) -> int:
        return self._events.flush() if self._events is not None else 0

    # ------------------------------------------------------------------ metrics

    def _to_metrics(self, report: RunReport, attempt: Attempt) -> None:
        """Datadog event and points, and CloudWatch EMF: counted once per run, not per delivery.

        The event goes first: it is the only part that can fail, and when it does nothing else of
        this step has happened yet, so the redelivery does not count the run a second time.
        """
        if self._events is not None and report.phase is RunPhase.STOPPED:
            self._events.send_event(datadog_event(report, attempt))
        for sink in self._metrics:
            sink.publish(report)
        if self._events is not None:
            self._events.add_points(metric_points(report, attempt))

    # ------------------------------------------------------------------ Slack

    @staticmethod
    def _event_and_points(
        events: EventSink, event: DatadogEvent | None, points: Sequence[MetricPoint]
    ) -> None:
        if event is not None:
            events.send_event(event)
        if points:
            events.add_points(list(points))

    def _to_slack(self, chat: ChatPoster, route: Routing, report: RunReport, attempt: Attempt) -> None:
        self._alert_to_slack(chat, route, alert_for(report, attempt), failure=report.is_failure)

    def _alert_to_slack(self, chat: ChatPoster, route: Routing, alert: Alert, *, failure: bool) -> None:
        if not failure or self._state is None or self._window <= 0:
            self._post_and_remember(chat, route.channel, alert)
            return
        self._to_storm(chat, self._state, route, alert)

    def _post_and_remember(self, chat: ChatPoster, channel: str, alert: Alert) -> MessageRef | None:
        ref = chat.post(channel, alert)
        if ref is not None and self._state is not None:
            self._state.save_thread(alert.run_key, ref)
        return ref

    def _to_storm(self, chat: ChatPoster, state: NotificationState, route: Routing, alert: Alert) -> None:
        now = self._clock()
        join = state.join_storm(alert.job, alert.run_key, alert.cause, now, self._window)
        if join.message is None:
            if state.claim_storm_post(alert.job, join.window_start, alert.run_key, now):
                self._open_storm(chat, state, route, alert, join)
            # else: the claimant is posting right now and folds this run's count in when done.
            return
        state.save_thread(alert.run_key, replace(join.message, own=False))
        if join.is_new_member and join.message.ts and is_update_milestone(join.count):
            self._refresh_storm(chat, state, join, alert)

    def _open_storm(
        self, chat: ChatPoster, state: NotificationState, route: Routing, alert: Alert, join: StormJoin
    ) -> None:
        ref = chat.post(route.channel, alert)
        # A webhook gives no ref: remember "posted" with an empty ts so nobody posts again this window.
        posted = ref or MessageRef(channel=route.channel, ts="")
        if ref is not None:
            state.save_thread(alert.run_key, ref)
        latest = state.set_storm_message(alert.job, join.window_start, posted)
        if ref is not None and latest.count > 1:
            self._refresh_storm(chat, state, latest, alert)

    def _refresh_storm(
        self, chat: ChatPoster, state: NotificationState, join: StormJoin, latest: Alert
    ) -> None:
        assert join.message is not None
        storm = StormState(job=join.job, count=join.count, window_start=join.window_start, causes=join.causes)
        chat.update(join.message, storm_alert(storm, latest))
        state.mark_storm_updated(join.job, join.window_start, join.count)
