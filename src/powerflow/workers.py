"""Background loops of the service: firing due timers, delivering webhooks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from powerflow.db.engine import DatabaseBusy, Store
from powerflow.db.models import Instance
from powerflow.periodic import PeriodicThread
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


class TimerWorker(PeriodicThread):
    """Fires due timers every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float) -> None:
        super().__init__(
            "powerflow-timers", interval, lambda: fire_due_timers(store), join_timeout=5
        )


class WebhookWorker(PeriodicThread):
    """Delivers pending webhook events every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float = 0.25) -> None:
        client = httpx.Client(follow_redirects=False)
        super().__init__(
            "powerflow-webhooks",
            interval,
            lambda: webhooks.deliver_due(store, client),
            on_stop=client.close,
            join_timeout=15,
        )
