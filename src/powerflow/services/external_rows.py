"""Keeping the external-task table in step with the engine: one call from ``record_step``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from powerflow import engine
from powerflow.db import external_queries as q


def apply_step(
    conn: Connection,
    instance_id: str,
    step: engine.StepResult,
    *,
    at: datetime,
    completed: str | None,
) -> None:
    """Record the external tasks a step opened and closed (called by ``record_step``)."""
    q.insert_tasks(
        conn,
        [
            {
                "id": t.id,
                "instance_id": instance_id,
                "element_id": t.element_id,
                "name": t.name[:255],
                "topic": t.topic,
                "state": "open",
                "priority": t.priority,
                "variables": t.variables,
                "outputs": list(t.outputs) if t.outputs is not None else None,
                "worker_id": None,
                "lock_expires_at": None,
                "fetchable_at": at,
                "retries": None,
                "error_message": None,
                "error_details": None,
                "created_at": at,
                "ended_at": None,
            }
            for t in step.new_external
        ],
    )
    q.close_tasks(conn, step.closed_external, completed=completed, at=at)
