"""Background loops of the service: firing due timers, delivering webhooks, raising alerts,
appending events to the audit log and signing its checkpoints."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from datetime import UTC, datetime

import httpx

from powerflow.audit_log.note import Signer
from powerflow.db import alert_queries
from powerflow.db.engine import Store
from powerflow.periodic import Backoff, PeriodicThread
from powerflow.services import instances, messages, start_timers, timer_firing, webhooks
from powerflow.services.archive import mover
from powerflow.services.audit import checkpoints as audit_checkpoints
from powerflow.services.audit import sequencer
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError
from powerflow.services.events import TIMER_ACTOR_NAME
from powerflow.services.incidents import cause
from powerflow.services.power import alert_loop
from powerflow.services.supervision import statistics

log = logging.getLogger("powerflow.timers")
TIMER_ACTOR = Principal(name=TIMER_ACTOR_NAME, roles=frozenset({"admin"}))


def fire_due_timers(
    store: Store,
    now: datetime | None = None,
    limit: int = 500,
    backoff: Backoff | None = None,
    batch: int = 50,
) -> int:
    """Advance every running instance whose next timer is due; return how many were advanced.

    Instances are claimed and fired ``batch`` to a transaction (services/timer_firing.py), at
    most ``limit`` in all. One that cannot be fired is marked failed with an incident and the
    others go on; one that meets a transient error (a busy or unreachable database) waits, per
    ``backoff``, without holding up the rest; a batch whose transaction fails as a whole is
    fired one instance per transaction instead. Each failure is one log line.
    """
    now = now or datetime.now(UTC)
    backoff = backoff or Backoff()
    fired = 0
    while fired < limit:
        waiting = [str(i) for i in backoff.waiting()]
        size = min(batch, limit - fired)
        try:
            outcome = timer_firing.fire_due_batch(store, now, size, TIMER_ACTOR_NAME, waiting)
        except Exception as exc:  # the batch's transaction failed: one by one
            log.info("timer batch failed (%s); firing one instance per transaction", cause(exc))
            with store.begin(write=False) as conn:
                due = timer_firing.due_instances(conn, now, size + len(waiting))
            todo = [i for i in due if i not in set(waiting)][:size]
            fired += sum(_fire_one_by_one(store, i, backoff) for i in todo)
            if len(todo) < size:
                break
            continue
        for instance_id in outcome.fired:
            if instance_id not in outcome.retry:
                backoff.succeeded(instance_id)
        for instance_id in outcome.failed:
            log.warning("timer of instance %s could not fire: the instance failed", instance_id)
        for instance_id, why in outcome.retry.items():
            delay = backoff.failed(instance_id)
            log.info("timer of instance %s retried in %.0f s: %s", instance_id, delay, why)
        fired += len(outcome.fired)
        if len(outcome.claimed) < size:
            break  # nothing more is due
    return fired


def _fire_one_by_one(store: Store, instance_id: str, backoff: Backoff) -> bool:
    """Fire one instance in a transaction of its own; True if it was advanced."""
    try:
        if instances.fire_timers(store, TIMER_ACTOR, instance_id) is None:
            log.warning("timer of instance %s could not fire: the instance failed", instance_id)
            return False
        backoff.succeeded(instance_id)
        return True
    except DomainError as exc:  # another worker advanced, ended or suspended it
        backoff.failed(instance_id)  # usually gone by the next query; never a hot loop
        log.info("timer of instance %s not fired: %s", instance_id, exc)
    except Exception as exc:  # busy or unreachable database, or the incident not recorded
        delay = backoff.failed(instance_id)
        log.warning(
            "timer of instance %s not fired, retried in %.0f s: %s",
            instance_id,
            delay,
            cause(exc),
        )
    return False


class TimerWorker(PeriodicThread):
    """Fires due timers: instances' timers and timer start events (services/start_timers.py).

    It looks every ``interval`` seconds at most, sooner when the earliest due time is nearer
    (one index lookup on each table per pass), and at once again after a full pass, so a
    timer fires within milliseconds of its due time without polling faster while nothing is
    due.
    """

    MIN_WAIT = 0.05  # coalesces dense due times into batches (at most this much later)

    def __init__(self, store: Store, interval: float, limit: int = 500) -> None:
        self.backoff = Backoff()
        self.poll = interval
        self.store = store
        self.limit = limit
        super().__init__("powerflow-timers", interval, self._pass, join_timeout=5)

    def _pass(self) -> None:
        fired = 0
        try:
            start_timers.fire_due_start_timers(self.store)
            fired = fire_due_timers(self.store, backoff=self.backoff, limit=self.limit)
        finally:
            self.interval = self.poll
            if fired >= self.limit:
                self.interval = self.MIN_WAIT  # more are due: go on at once
            else:
                self.interval = self._wait()

    def _wait(self) -> float:
        """Seconds until the earliest due timer (at most the poll interval)."""
        with self.store.begin(write=False) as conn:
            # Instances waiting after a failure are retried at the poll, not looked at sooner.
            waiting = [str(i) for i in self.backoff.waiting()]
            dues = [
                d
                for d in (
                    timer_firing.next_instance_due(conn, waiting),
                    start_timers.next_start_due(conn),
                )
                if d is not None
            ]
        if not dues:
            return self.poll
        wait = (min(dues) - datetime.now(UTC)).total_seconds()
        return min(self.poll, max(self.MIN_WAIT, wait))


class WebhookWorker(PeriodicThread):
    """Delivers pending webhook events every ``interval`` seconds."""

    def __init__(
        self, store: Store, interval: float = 0.25, allowed_hosts: Collection[str] = ()
    ) -> None:
        client = httpx.Client(follow_redirects=False)
        hosts = tuple(allowed_hosts)
        super().__init__(
            "powerflow-webhooks",
            interval,
            lambda: webhooks.deliver_due(store, client, allowed_hosts=hosts),
            on_stop=client.close,
            join_timeout=15,
        )


class AlertWorker(PeriodicThread):
    """Raises crossed alert thresholds (services/power/alert_loop.py).

    It looks every ``interval`` seconds at most, and sooner when the earliest next alert time is
    nearer (one index lookup per pass), so an alert is raised within milliseconds of its
    threshold without polling faster while nothing is due.
    """

    MIN_WAIT = 0.005

    def __init__(self, store: Store, interval: float) -> None:
        self.backoff = Backoff()
        self.poll = interval
        self.store = store
        super().__init__("powerflow-alerts", interval, self._pass, join_timeout=5)

    def _pass(self) -> None:
        try:
            alert_loop.raise_due_alerts(self.store, backoff=self.backoff)
        finally:
            self.interval = self.poll
            waiting = self.backoff.waiting()
            skip_tasks = [str(k[1]) for k in waiting if isinstance(k, tuple) and k[0] == "task"]
            skip_cases = [str(k[1]) for k in waiting if isinstance(k, tuple) and k[0] != "task"]
            with self.store.begin(write=False) as conn:
                # Items waiting after a failure are retried at the poll, not looked at sooner.
                due = alert_queries.next_due(conn, skip_tasks, skip_cases)
            if due is not None:
                wait = (due - self.store.now()).total_seconds()
                self.interval = min(self.poll, max(self.MIN_WAIT, wait))


class MessageWorker(PeriodicThread):
    """Expires kept messages whose time has passed (services/messages.expire_messages)."""

    def __init__(self, store: Store, interval: float) -> None:
        super().__init__(
            "powerflow-messages",
            interval,
            lambda: messages.expire_messages(store),
            join_timeout=5,
        )


class StatisticsWorker(PeriodicThread):
    """Counts new events into the statistics (services/supervision/statistics.aggregate) every
    ``interval`` seconds; at once again only while a pass stopped at its limit (catching up
    after a rebuild or a pause), not merely because new events arrived meanwhile.

    ``powerflow serve`` runs it in a child process (worker_process.py), away from the requests."""

    def __init__(self, store: Store, interval: float) -> None:
        self.poll = interval
        self.store = store
        super().__init__("powerflow-statistics", interval, self._pass, join_timeout=5)

    def _pass(self) -> None:
        _, more = statistics.count_new_events(self.store, limit=50_000)
        self.interval = 0.01 if more else self.poll


class AuditWorker(PeriodicThread):
    """Appends committed events to the audit log every ``interval`` seconds
    (services/audit/sequencer.py) and signs a checkpoint every ``checkpoint_seconds`` when the
    log grew (services/audit/checkpoints.py). The two steps fail apart: a failing checkpoint
    does not stop sequencing. With several workers on PostgreSQL each runs it; the log's
    advisory lock lets one append at a time, and a checkpoint per tree size is kept once."""

    def __init__(
        self, store: Store, signer: Signer, interval: float, checkpoint_seconds: float
    ) -> None:
        self.store = store
        self.signer = signer
        self.checkpoint_seconds = checkpoint_seconds
        self._next_look = 0.0
        super().__init__("powerflow-audit", interval, self._pass, join_timeout=10)

    def _pass(self) -> None:
        try:
            sequencer.sequence(self.store)
        except Exception as exc:
            log.warning("audit log: events not appended this pass: %s", cause(exc))
        if time.monotonic() < self._next_look:
            return
        self._next_look = time.monotonic() + min(self.checkpoint_seconds, 5.0)
        if audit_checkpoints.due(self.store, self.checkpoint_seconds):
            audit_checkpoints.make(self.store, self.signer)


class ArchiveWorker(PeriodicThread):
    """Moves ended instances past the retention period into the archive
    (services/archive/mover.py), ``batch`` to a transaction and at most ``PASS_LIMIT`` a pass;
    at once again while a pass stopped at that limit (a backlog), else every ``interval``
    seconds. With several workers each runs it: PostgreSQL's row locks (SKIP LOCKED) and the
    archive's primary keys let each instance move once."""

    PASS_LIMIT = 5_000

    def __init__(self, store: Store, days: int, interval: float, batch: int) -> None:
        self.store = store
        self.days = days
        self.poll = interval
        self.batch = batch
        super().__init__("powerflow-archive", interval, self._pass, join_timeout=30)

    def _pass(self) -> None:
        done = mover.run(self.store, self.days, batch=self.batch, limit=self.PASS_LIMIT)
        if done.archived:
            log.info("archived %d ended instances", len(done.archived))
        self.interval = 1.0 if len(done.archived) >= self.PASS_LIMIT else self.poll
