"""Test helper: record an instance's current row as the state its events bound, as a data
migration run by powerflow itself would (so a test can damage a saved state in a way the state
binding does not catch, to exercise what happens when such a state cannot be restored)."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from powerflow.audit_log.binding import state_digest
from powerflow.audit_log.chain import CHAINED_FIELDS, event_hash
from powerflow.db.models import Event, Instance
from powerflow.services.events import hashed_content


def rebind(engine: Engine, instance_id: str) -> None:
    """Put the row's digest on the instance's last binding event and recompute its chain."""
    with Session(engine) as session, session.begin():
        instance = session.get(Instance, instance_id)
        assert instance is not None
        events = list(
            session.scalars(
                select(Event).where(Event.instance_id == instance_id).order_by(Event.seq)
            )
        )
        bound = [ev for ev in events if ev.state_digest is not None][-1]
        bound.state_digest = state_digest(instance.status, instance.state, instance.data)
        prev = None
        for ev in events:
            ev.prev_hash = prev
            content = {c: getattr(ev, c) for c in (*CHAINED_FIELDS, "state_digest")}
            ev.hash = prev = event_hash(prev, hashed_content(content))
        instance.last_event_hash = prev
