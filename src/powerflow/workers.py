"""Background loops of the service: firing due timers."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from powerflow.db.engine import DatabaseBusy, Store
from powerflow.db.models import Instance
from powerflow.services import instances, webhooks
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError

log = logging.getLogger("powerflow.timers")
TIMER_ACTOR = Principal(name="timer", roles=frozenset({"admin"}))


def fire_due_timers(store: Store, now: datetime | None = None, limit: int = 100) -> int:
    """Advance every running instance whose next timer is due; return how many were advanced."""
    now = now or datetime.now(UTC)
    with store.read() as session:
        due = session.scalars(
            select(Instance.id)
            .where(Instance.status == "running", Instance.next_timer_at <= now)
            .order_by(Instance.next_timer_at)
            .limit(limit)
        ).all()
    fired = 0
    for instance_id in due:
        try:
            instances.fire_timers(store, TIMER_ACTOR, instance_id)
            fired += 1
        except (DomainError, DatabaseBusy) as exc:  # another worker advanced it, or busy
            log.info("timer of %s not fired now: %s", instance_id, exc)
    return fired


class TimerWorker:
    """A daemon thread that polls for due timers every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="powerflow-timers", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the loop to end."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                fire_due_timers(self.store)
            except Exception:  # the loop must survive any single failure
                log.exception("timer poll failed")


class WebhookWorker:
    """A daemon thread that delivers pending webhook events every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float = 0.25) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="powerflow-webhooks", daemon=True)

    def start(self) -> None:
        """Start delivering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering and wait for the loop to end."""
        self._stop.set()
        self._thread.join(timeout=15)

    def _loop(self) -> None:
        with httpx.Client(follow_redirects=False) as client:
            while not self._stop.wait(self.interval):
                try:
                    webhooks.deliver_due(self.store, client)
                except Exception:  # the loop must survive any single failure
                    log.exception("webhook delivery failed")
