"""The schedule of timer start events, written at deploy (services/start_timers.py fires it).

A new version of a key replaces the schedule of its older versions (Camunda's rule): their rows
are deleted, whether or not the new version has timer start events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert

from powerflow.db.models import StartTimer
from powerflow.engine import timer_expr


def schedule_deployed(
    conn: Connection, definitions: list[tuple[int, str, dict[str, Any]]], now: datetime
) -> None:
    """Replace the schedule of each deployed key by its new version's timer start events.

    ``definitions`` holds (definition id, key, catalog) of the versions just deployed.
    """
    for definition_id, key, catalog in definitions:
        conn.execute(
            delete(StartTimer).where(
                StartTimer.definition_key == key, StartTimer.definition_id != definition_id
            )
        )
        rows = []
        for timer in catalog.get("timer_starts") or []:
            first = timer_expr.first_schedule(timer["kind"], timer["value"], now)
            rows.append(
                {
                    "definition_id": definition_id,
                    "element_id": timer["element_id"],
                    "definition_key": key,
                    "kind": timer["kind"],
                    "value": timer["value"],
                    "next_fire_at": first.next_fire_at,
                    "remaining_cycles": first.remaining,
                    "interval_seconds": first.interval_seconds,
                    "fired_count": 0,
                    "created_at": now,
                }
            )
        if rows:
            conn.execute(insert(StartTimer), rows)
