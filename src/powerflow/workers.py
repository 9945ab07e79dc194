"""Background loops of the service: firing due timers, delivering webhooks, raising alerts."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from powerflow.db import alert_queries
from powerflow.db.engine import Store
from powerflow.db.models import Instance
from powerflow.periodic import Backoff, PeriodicThread
from powerflow.services import instances, messages, webhooks
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError
from powerflow.services.events import TIMER_ACTOR_NAME
from powerflow.services.incidents import cause
from powerflow.services.power import alert_loop

log = logging.getLogger("powerflow.timers")
TIMER_ACTOR = Principal(name=TIMER_ACTOR_NAME, roles=frozenset({"admin"}))


def fire_due_timers(
    store: Store, now: datetime | None = None, limit: int = 100, backoff: Backoff | None = None
) -> int:
    """Advance every running instance whose next timer is due; return how many were advanced.

    Each instance is isolated: one that cannot be fired is marked failed with an incident (by
    ``instances.fire_timers``) and the others go on; one that meets a transient error (a busy
    or unreachable database) waits, per ``backoff``, without holding up the rest. Each failure
    is one log line.
    """
    now = now or datetime.now(UTC)
    backoff = backoff or Backoff()
    waiting = backoff.waiting()
    with store.read() as session:
        due = session.scalars(
            select(Instance.id)
            .where(Instance.status == "running", Instance.next_timer_at <= now)
            .order_by(Instance.next_timer_at)
            .limit(limit + len(waiting))
        ).all()
    fired = 0
    for instance_id in [i for i in due if i not in waiting][:limit]:
        try:
            if instances.fire_timers(store, TIMER_ACTOR, instance_id) is None:
                log.warning("timer of instance %s could not fire: the instance failed", instance_id)
                continue
            backoff.succeeded(instance_id)
            fired += 1
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
    return fired


class TimerWorker(PeriodicThread):
    """Fires due timers every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        self.backoff = Backoff()
        super().__init__(
            "powerflow-timers",
            interval,
            lambda: fire_due_timers(store, backoff=self.backoff),
            join_timeout=5,
        )


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
