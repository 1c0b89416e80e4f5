"""decide -> act for notifications: which messages a run report causes, sent once each.

At-least-once delivery means any report may arrive twice, concurrently, or
after a partial failure. Three mechanisms make each message happen once:

* every outside effect runs inside ``guard.once(key)`` (Powertools Idempotency
  in production), keyed per sink and per report (``slack#<task arn>#stopped``),
  so a redelivery after a Slack outage re-sends Slack but not Datadog;
* failures of one job whose runs stopped within a window of each other (the runs'
  own stop times, not the processing clock) join one *storm* record with
  conditional writes: each member with its state. One run at a time holds a
  lease to post the message; it renders from the stored members and, after
  posting, shows whoever joined meanwhile. A member that finds the post in
  someone else's hands waits briefly, then fails its item so its redelivery
  takes the lease over: no member goes unannounced because its poster failed.
  Updates happen at count milestones and once per invocation (Slack's rate
  limits), rendered by one run at a time (a lease), always from the stored
  members; a window is closed only after its message shows every member. Past
  the runs one message can list (45), the renderer names the others in the
  storm's thread, each run once, so none goes unannounced however large;
* the Slack message of a run is remembered (its thread), so later news about
  the run (a retry, a recovery) goes into that thread. A storm member's news
  updates its state in the storm and re-renders the summary, never replacing
  it with one run's text (a storm's ref has ``own`` False);
* every post is made once per alert key, even when Slack stores a message but
  answers after the client's timeout: the intent is recorded before posting,
  the message carries the key in its metadata, and a later attempt that finds
  an earlier intent looks the message up (``ChatPoster.find``) and remembers it
  instead of posting again. The write that remembers a post is retried within
  the invocation. A webhook cannot look anything up: there a timeout may still
  cost a second post.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

from aws_lambda_powertools import Logger
from msgspec.structs import replace

from ecswatch.budget import Budget
from ecswatch.config.routing import Routing
from ecswatch.effects import run_each
from ecswatch.errors import DeliveryError, TransientError
from ecswatch.notifications import words
from ecswatch.notifications.alerts import (
    alert_for,
    datadog_event,
    is_alertable,
    metric_points,
    roster_replies,
    start_points,
    storm_alert,
)
from ecswatch.ports import ChatPoster, EventSink, NotificationState, OnceGuard, RunMetrics
from ecswatch.run import (
    FIRST_ATTEMPT,
    Alert,
    Attempt,
    DatadogEvent,
    MemberState,
    MessageRef,
    MetricPoint,
    RunPhase,
    RunReport,
    StormJoin,
    StormMember,
    StormState,
)

logger = Logger(child=True)

#: How long a member waits for another run's storm post in flight before failing its item (its
#: redelivery then finds the message, or takes the expired lease over and posts).
POST_WAIT_SECONDS = 3.0
#: How long a run waits for another renderer of the storm message before failing its item.
RENDER_WAIT_SECONDS = 3.0
_POLL_SECONDS = 0.2
#: End-of-invocation updates of one storm message are this far apart at least (chat.update is a
#: Tier 3 method, 50+ a minute: one storm stays at 50): the last invocation of a burst waits out
#: the gap, then shows everything stored.
UPDATE_GAP_SECONDS = 1.2
#: An earlier intent to post this young sends a later attempt to look for the message first (the
#: five deliveries of an SQS message come within half an hour); an older one is a new alert.
INTENT_SECONDS = 3600
#: While the earlier intent is younger than this, a lookup Slack cannot answer fails the item (its
#: redelivery looks again) rather than post blindly; later, the alert is posted, a duplicate being
#: better than a lost alert (deliveries 4 and 5 of an SQS message come 1,080 s and 1,440 s after the first).
LOOKUP_HOLD_SECONDS = 900
#: A lookup starts this long before the intent: clock skew between the function and Slack's ts.
LOOKUP_MARGIN_SECONDS = 60
#: The write that remembers a post (a run's thread, a storm's message) is tried this many times, the
#: waits below apart, before the item fails (its redelivery then finds the post by its key).
REMEMBER_TRIES = 3
REMEMBER_WAITS = (0.2, 0.5)

_T = TypeVar("_T")


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
        metrics: Sequence[RunMetrics] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        budget: Budget | None = None,
    ) -> None:
        self._guard = guard
        self._routing = routing
        self._chat = chat
        self._events = events
        self._state = state
        self._window = storm_window_seconds
        self._metrics = tuple(metrics)
        self._clock = clock
        self._sleep = sleep
        self._budget = budget or Budget()
        #: Storms whose message is behind after a non-milestone join or a member's news, with what a
        #: storm of one run says (its own news): shown once at flush(), so a batch costs one update.
        self._behind: dict[tuple[str, datetime], tuple[StormJoin, Alert | None]] = {}

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
            if report.phase is RunPhase.STOPPED:  # a start's only figures are the once-per-run ones below
                steps.append((f"metrics#{report.key}", lambda: self._to_metrics(report, attempt)))
            if report.durations.start_latency is not None:
                # Once per run, from whichever event carries startedAt first: the RUNNING event, or
                # the STOPPED one when RUNNING was filtered, missed or arrived late.
                steps.append((f"start#{report.event.task.arn}", lambda: self._start_metrics(report, attempt)))
        chat, route = self._chat, self._routing(report.job)
        # A retry's result is news in the first alert's thread (RunCoordinator), not a new alert.
        first = attempt.number == 1
        if chat is not None and first and is_alertable(report, notify_success=route.notify_success):
            key = f"slack#{report.key}"
            steps.append((key, lambda: self._to_slack(chat, route, report, attempt, key=key)))
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
            # A failed launch happened when CloudTrail says (the event's date), not when processed.
            when = datetime.fromtimestamp(event.date_happened, UTC) if event and event.date_happened else None
            steps.append(
                (
                    f"slack#{key}",
                    lambda: self._alert_to_slack(
                        chat, route, alert, key=f"slack#{key}", failure=True, stopped=when
                    ),
                )
            )
        self._run_all(steps)

    def follow_up(self, run_key: str, alert: Alert, *, update_parent: Alert | None = None) -> bool:
        """News about a run already alerted: reply in its thread, optionally refresh the parent message.

        Returns False when there is no thread to follow (never alerted, or webhook mode).
        The parent is refreshed first: an update can be repeated, a reply cannot, so when either
        fails the redelivery repeats the update and posts the reply once.
        """
        chat, state = self._chat, self._state
        ref = state.thread_for(run_key) if state else None
        if chat is None or state is None or ref is None:
            return False
        if not ref.own:
            return self._storm_news(chat, state, ref, alert, run_key=run_key, update_parent=update_parent)
        if not ref.ts:
            return False
        if update_parent is not None:
            chat.update(ref, update_parent)
        self._post_once(chat, ref.channel, alert, key=reply_key(ref, alert), thread=ref)
        return True

    def _storm_news(
        self,
        chat: ChatPoster,
        state: NotificationState,
        ref: MessageRef,
        alert: Alert,
        *,
        run_key: str,
        update_parent: Alert | None,
    ) -> bool:
        """A storm member's news: its state in the storm (the summary is re-rendered from the stored
        members at the end of the invocation, never replaced by this run's text: news of a batch
        costs one update), and the news itself in the storm's thread."""
        if update_parent is not None:
            storm = state.set_member_state(run_key, member_state(update_parent))
            if storm is not None and storm.message is not None and storm.message.ts:
                self._behind[(storm.job, storm.window_start)] = (storm, update_parent)
        if not ref.ts:
            if ref.channel:
                return False  # posted by webhook: no thread to reply in
            # Not posted yet (its poster is at it, or failed and will be taken over): the news waits
            # for the message (the item is redelivered) rather than being lost.
            raise TransientError(f"the storm message of {alert.job} is not posted yet; news waits for it")
        self._post_once(chat, ref.channel, alert, key=reply_key(ref, alert), thread=ref)
        return True

    def reply_or_post(self, run_key: str, alert: Alert, *, update_parent: Alert | None = None) -> None:
        """News that must reach someone: in the run's thread, else alone in the job's channel."""
        if not self.follow_up(run_key, alert, update_parent=update_parent):
            self.post(alert.job, alert)

    def post(self, job: str, alert: Alert) -> MessageRef | None:
        """A standalone message to the job's channel (news with no thread to go into)."""
        if self._chat is None:
            return None
        return self._post_and_remember(self._chat, self._routing(job).channel, alert, key=alert_key(alert))

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
                    # remembered: a recovery threads here
                    self._post_and_remember(chat, channel, alert, key=f"slack#{key}")

            steps.append((f"slack#{key}", to_slack))
        self._run_all(steps)

    def register_lambda_context(self, context: object) -> None:
        self._guard.register_lambda_context(context)

    def flush(self) -> int:
        """End of an invocation: storm messages left behind by non-milestone joins and members'
        news are shown once each (best effort: a later join, news or the window's close shows
        them too), then the Datadog points are sent."""
        self._show_behind()
        return self._events.flush() if self._events is not None else 0

    def _show_behind(self) -> None:
        behind, self._behind = list(self._behind.values()), {}
        if self._chat is None or self._state is None:
            return
        for storm, alone in behind:
            try:
                current = self._state.read_storm(storm.job, storm.window_start)
                if current is None or current.shown >= storm.version:
                    continue  # someone showed it meanwhile
                if current.rendered_at is not None:
                    gap = (current.rendered_at - self._clock()).total_seconds() + UPDATE_GAP_SECONDS
                    if gap > 0:  # keep chat.update under Slack's rate limit; then show what is stored
                        self._sleep(min(gap, UPDATE_GAP_SECONDS))
                self._show(self._chat, self._state, storm, alone=alone)
            except (TransientError, DeliveryError) as e:
                logger.warning(
                    "storm message not brought up to date", extra={"job": storm.job, "error": str(e)}
                )

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

    def _start_metrics(self, report: RunReport, attempt: Attempt) -> None:
        for sink in self._metrics:
            sink.publish_start(report)
        if self._events is not None:
            self._events.add_points(start_points(report, attempt))

    # ------------------------------------------------------------------ Slack

    @staticmethod
    def _event_and_points(
        events: EventSink, event: DatadogEvent | None, points: Sequence[MetricPoint]
    ) -> None:
        if event is not None:
            events.send_event(event)
        if points:
            events.add_points(list(points))

    def _to_slack(
        self, chat: ChatPoster, route: Routing, report: RunReport, attempt: Attempt, *, key: str
    ) -> None:
        stopped = report.event.timeline.stopped or report.event.event_time
        self._alert_to_slack(
            chat, route, alert_for(report, attempt), key=key, failure=report.is_failure, stopped=stopped
        )

    def _alert_to_slack(
        self,
        chat: ChatPoster,
        route: Routing,
        alert: Alert,
        *,
        key: str,
        failure: bool,
        stopped: datetime | None = None,
    ) -> None:
        if not failure or self._state is None or self._window <= 0:
            self._post_and_remember(chat, route.channel, alert, key=key)
            return
        member = StormMember(
            run_key=alert.run_key,
            label=run_label(alert.run_key),
            stopped=stopped or self._clock(),
            cause=alert.cause,
        )
        self._to_storm(chat, self._state, route, alert, member, key=key)

    def _post_and_remember(
        self, chat: ChatPoster, channel: str, alert: Alert, *, key: str
    ) -> MessageRef | None:
        ref = self._post_once(chat, channel, alert, key=key)
        state = self._state
        if ref is not None and state is not None:
            self._remember(lambda: state.save_thread(alert.run_key, ref))
        return ref

    def _post_once(
        self, chat: ChatPoster, channel: str, alert: Alert, *, key: str, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """Post ``alert`` unless an earlier attempt at the same ``key`` already did (Slack stored it but
        answered after the client's timeout, or the write remembering it failed): then the message
        it posted is found by its metadata key and returned instead."""
        found = self._posted_before(chat, channel, alert, key=key, thread=thread)
        return found if found is not None else chat.post(channel, alert, thread=thread, key=bounded_key(key))

    def _posted_before(
        self, chat: ChatPoster, channel: str, alert: Alert, *, key: str, thread: MessageRef | None = None
    ) -> MessageRef | None:
        """Record the intent to post ``key``; the message an earlier attempt at it posted, if any."""
        key, state = bounded_key(key), self._state
        if state is None:
            return None
        now = self._clock()
        earlier = state.intend_post(key, channel, now, within=INTENT_SECONDS)
        if earlier is None:
            return None
        return self._find_posted(chat, channel, alert, key=key, earlier=earlier, now=now, thread=thread)

    def _find_posted(
        self,
        chat: ChatPoster,
        channel: str,
        alert: Alert,
        *,
        key: str,
        earlier: datetime,
        now: datetime,
        thread: MessageRef | None,
    ) -> MessageRef | None:
        """The message an earlier attempt posted, or None (then the alert is posted). A lookup Slack
        cannot answer fails the item while the earlier intent is recent (posting blindly may post
        twice), and posts after that (never alerting is worse than alerting twice)."""
        since = earlier - timedelta(seconds=LOOKUP_MARGIN_SECONDS)
        extra = {"job": alert.job, "channel": channel, "key": key}
        try:
            found = chat.find(channel, key, since=since, thread=thread)
        except TransientError as e:
            if (now - earlier).total_seconds() < LOOKUP_HOLD_SECONDS:
                raise TransientError(words.post_unknown(alert.job, str(e))) from e
            logger.warning(words.POST_UNCHECKED, extra={**extra, "error": str(e)})
            return None
        except DeliveryError as e:
            logger.warning(words.POST_UNCHECKED, extra={**extra, "error": str(e)})
            return None
        if found is not None:
            logger.info(words.POST_FOUND, extra={**extra, "ts": found.ts})
        return found

    def _remember(self, write: Callable[[], _T]) -> _T:
        """A write after a post, tried again briefly (inside the invocation's budget) before the item
        fails: a throttled write must not turn into a second post (the redelivery would find the
        post by its key, at the cost of a lookup)."""
        for wait in REMEMBER_WAITS[: REMEMBER_TRIES - 1]:
            try:
                return write()
            except TransientError as e:
                if not self._budget.allows(wait):
                    raise
                logger.warning(words.REMEMBER_AGAIN, extra={"error": str(e)})
                self._sleep(wait)
        return write()

    # ------------------------------------------------------------------ storms

    def _to_storm(
        self,
        chat: ChatPoster,
        state: NotificationState,
        route: Routing,
        alert: Alert,
        member: StormMember,
        *,
        key: str,
    ) -> None:
        for _ in range(3):
            join = state.join_storm(alert.job, member, self._window)
            if join is None:  # stopped a window or more before the open one: a late run, alone
                self._post_and_remember(chat, route.channel, alert, key=key)
                return
            if not join.ended:
                break
            # The open window is over for this run: it is shown in full, then closed, then opened anew.
            self._finish(chat, state, route, join)
            state.close_storm(join)
        else:
            raise TransientError(f"the storm window of {alert.job} kept changing; retry")
        if join.message is None:
            self._post_storm(chat, state, route, join, alert)
        elif not join.message.ts:
            return  # posted by webhook: it cannot be updated
        elif not join.is_new_member or is_update_milestone(join.count):
            self._show(chat, state, join, alert)
        else:
            self._behind[(join.job, join.window_start)] = (join, None)

    def _post_storm(
        self, chat: ChatPoster, state: NotificationState, route: Routing, join: StormJoin, alert: Alert | None
    ) -> None:
        """Post the window's message under the lease, rendered from every member stored so far, then
        show whoever joined while it was being posted. Without the lease, wait for the poster's
        message; if it does not come, fail the item: the redelivery takes the lease over."""
        if not state.claim_storm_post(
            join.job,
            join.window_start,
            alert.run_key if alert else f"closer#{uuid.uuid4().hex[:8]}",
            self._clock(),
        ):
            self._await_message(chat, state, join)
            return
        own = alert is not None and join.count == 1 and alert.run_key in {m.run_key for m in join.members}
        first = alert if own and alert is not None else storm_alert(join.state, alert)
        key = bounded_key(storm_key(join))
        found = self._posted_before(chat, route.channel, first, key=key)
        ref = found if found is not None else chat.post(route.channel, first, key=key)
        # A message an earlier attempt posted shows the members of then, not necessarily of now:
        # remembered as showing none, so it is rendered again from every member stored.
        shown = 0 if found is not None else join.version
        # A webhook gives no ref: remember "posted" with an empty ts so nobody posts again this window.
        latest = self._remember(
            lambda: state.set_storm_message(
                join.job, join.window_start, ref or MessageRef(route.channel, ""), shown
            )
        )
        if ref is not None and latest.version > shown:
            self._show(chat, state, latest, alert, alone=first if own else None)

    def _await_message(self, chat: ChatPoster, state: NotificationState, join: StormJoin) -> None:
        waited = 0.0
        while True:
            current = state.read_storm(join.job, join.window_start)
            if current is None or current.message is not None:
                if current is not None and current.message is not None and current.message.ts:
                    self._show(chat, state, current)
                return
            if waited >= POST_WAIT_SECONDS:
                raise TransientError(f"the storm message of {join.job} is not posted yet; retry to post it")
            self._sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS

    def _finish(self, chat: ChatPoster, state: NotificationState, route: Routing, ended: StormJoin) -> None:
        """A window over for a newer run: posted if its poster failed, and shown with every member."""
        if ended.message is None:
            self._post_storm(chat, state, route, ended, None)
        elif ended.message.ts:
            self._show(chat, state, ended)

    def _show(
        self,
        chat: ChatPoster,
        state: NotificationState,
        storm: StormJoin,
        latest: Alert | None = None,
        *,
        alone: Alert | None = None,
    ) -> None:
        """Bring the storm's message up to (at least) ``storm.version``: one renderer at a time holds
        a lease and renders from the stored members; others wait for it to finish. ``alone``: what
        the message says while its run is the window's only member (its own news, as for any run)."""
        by = f"{latest.run_key if latest else storm.job}#{uuid.uuid4().hex[:8]}"
        waited = 0.0
        while True:
            claimed = state.claim_storm_render(storm, by, self._clock())
            if claimed is not None and claimed.message is not None:
                try:
                    if claimed.count == 1:
                        # One run: the message is that run's own alert, never a "storm of one". Its
                        # news (``alone``, or still waiting for the end of the invocation) is shown;
                        # without news the message already says what the run's own alert says.
                        pending = self._behind.pop((claimed.job, claimed.window_start), None)
                        own = alone or (pending[1] if pending else None)
                        if own is not None:
                            chat.update(claimed.message, own)
                    else:
                        # Whole replies of runs into the thread first, then the message names the rest.
                        listed = self._list_members(chat, state, claimed, claimed.message)
                        chat.update(claimed.message, storm_alert(with_listed(claimed.state, listed), latest))
                except Exception:
                    state.storm_shown(claimed, by, rendered=False)
                    raise
                state.storm_shown(claimed, by, rendered=True)
                return
            current = state.read_storm(storm.job, storm.window_start)
            if current is None or current.shown >= storm.version:
                return
            if waited >= RENDER_WAIT_SECONDS:
                raise TransientError(
                    f"the storm message of {storm.job} is being updated by another run; retry"
                )
            self._sleep(_POLL_SECONDS)
            waited += _POLL_SECONDS

    def _list_members(
        self, chat: ChatPoster, state: NotificationState, storm: StormJoin, message: MessageRef
    ) -> set[str]:
        """Past what its message can list, name the storm's runs in its thread, 45 a reply, each
        once (under the render lease); the run keys named now. Each reply is posted once per its
        runs (the key names them), and its runs are marked named only after it is posted: a
        failure leaves them to the next render."""
        listed: set[str] = set()
        if not message.ts:
            return listed
        for reply, members in roster_replies(storm.state):
            run_keys = [m.run_key for m in members]
            digest = hashlib.sha256("\n".join(run_keys).encode()).hexdigest()[:16]
            self._post_once(
                chat, message.channel, reply, key=f"roster#{reply.run_key}#{digest}", thread=message
            )
            self._remember(partial(state.storm_listed, storm, run_keys))
            listed.update(run_keys)
        return listed


def with_listed(storm: StormState, run_keys: set[str]) -> StormState:
    """The storm with these runs marked as named in its thread (just posted, not yet read back)."""
    if not run_keys:
        return storm
    members = tuple(replace(m, listed=True) if m.run_key in run_keys else m for m in storm.members)
    return replace(storm, members=members)


def member_state(parent: Alert) -> MemberState:
    """What a run's news says of it, by the severity of what its alert should now say: a success is
    a recovery, a warning a retry in flight, anything else a failure (given up, or not retried)."""
    if parent.severity == "success":
        return MemberState.RECOVERED
    if parent.severity == "warning":
        return MemberState.RETRYING
    return MemberState.FAILED


def run_label(run_key: str) -> str:
    """How a storm names a run: a task ARN's task id, a launch's run id."""
    return run_key.rsplit("/", 1)[-1][:100]


def _digest(*parts: str) -> str:
    """A short, bounded key for any parts (task ARNs are long; forged ones may be 2 KB)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


#: Longer alert keys (the once-keys of task ARNs, which may be forged to 2 KB) are hashed: the key
#: goes into Slack's message metadata and a DynamoDB key.
KEY_MAX = 200


def bounded_key(key: str) -> str:
    return key if len(key.encode()) <= KEY_MAX else f"{key[:64]}#{_digest(key)}"


def alert_key(alert: Alert) -> str:
    """The key of a standalone message about a run (news with no thread to go into): one per
    run and title, so the same news about the same run is posted once."""
    return "alert#" + _digest(alert.run_key, alert.title)


def reply_key(thread: MessageRef, alert: Alert) -> str:
    """The key of a reply: one per thread, run and title."""
    return "reply#" + _digest(thread.channel, thread.ts, alert.run_key, alert.title)


def storm_key(storm: StormJoin) -> str:
    """The key of a storm window's message: one per job and window."""
    return "storm#" + _digest(storm.job, str(round(storm.window_start.timestamp() * 1000)))
