"""Moving ended instances into the archive, in small batches, each batch one transaction.

An instance is archived when it is ``completed`` or ``cancelled``, ended more than the
retention period ago, has no open supervision case, alert or incident and no notice still
running, and every one of its events is in the audit log under a signed checkpoint; and when the
readers of the event table by id order (the statistics, every webhook) are past its events. A
batch that fails (a constraint, another archiver that moved one of its instances first) rolls
back whole and is tried again one instance per transaction, so no instance is ever half moved
and one bad instance does not hold up the rest.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import RowMapping

from powerflow.db import archive_queries as q
from powerflow.db import audit_queries
from powerflow.db.engine import DatabaseBusy, Store

log = logging.getLogger("powerflow.archive")

BATCH = 200


@dataclass
class ArchiveRun:
    """What a run archived (or, in a dry run, would archive) and what it held back, why."""

    dry_run: bool
    cutoff: datetime
    archived: list[str] = field(default_factory=list)
    held: Counter[str] = field(default_factory=Counter)
    failed: dict[str, str] = field(default_factory=dict)


def _held_reason(
    row: RowMapping, summary: q.EventSummary | None, checkpoint: int, horizon: q.Horizon
) -> str | None:
    """Why an otherwise eligible instance stays, or None when it may go."""
    seq = int(row["event_seq"])
    if summary is None or summary.events != seq:
        return "its events are not all in the event table (the chain head disagrees)"
    if summary.sequenced < summary.events:
        return "not every event is in the audit log yet"
    if summary.last_leaf >= checkpoint:
        return "no signed checkpoint covers its last events yet"
    if summary.last_event_id > horizon.event_id:
        return horizon.why
    return None


def run(
    store: Store,
    older_than_days: float,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    limit: int | None = None,
    now: datetime | None = None,
) -> ArchiveRun:
    """Archive the eligible instances that ended more than ``older_than_days`` ago, ``batch``
    to a transaction, at most ``limit`` in all; with ``dry_run`` only report."""
    now = now or store.now()
    result = ArchiveRun(dry_run, now - timedelta(days=older_than_days))
    after: tuple[datetime, str] | None = None
    while limit is None or len(result.archived) < limit:
        size = batch if limit is None else min(batch, limit - len(result.archived))
        try:
            last = _batch(store, result, after, size, dry_run, now)
        except DatabaseBusy:
            raise
        except Exception as exc:  # the batch rolled back whole: one instance at a time
            log.info("archive batch failed (%s); archiving one instance per transaction", exc)
            last = _one_by_one(store, result, after, size, dry_run, now)
        if last is None:
            break
        after = last
    return result


def _batch(
    store: Store,
    result: ArchiveRun,
    after: tuple[datetime, str] | None,
    size: int,
    dry_run: bool,
    now: datetime,
    only: str | None = None,
) -> tuple[datetime, str] | None:
    """One transaction: find up to ``size`` candidates after ``after`` (``only``: just that
    one of them) and move the eligible. Returns the keyset of the last candidate looked at
    (None: no more)."""
    held: Counter[str] = Counter()
    with store.begin(write=not dry_run) as conn:
        rows = q.candidates(conn, result.cutoff, after, size)
        if only is not None:
            rows = [r for r in rows if r["id"] == only]
        if not rows:
            return None
        latest = audit_queries.latest_checkpoint(conn)
        checkpoint = 0 if latest is None else int(latest["tree_size"])
        horizon = q.horizon(conn)
        summaries = q.event_summaries(conn, [str(r["id"]) for r in rows])
        chosen: list[str] = []
        for row in rows:
            why = _held_reason(row, summaries.get(str(row["id"])), checkpoint, horizon)
            if why is None:
                chosen.append(str(row["id"]))
            else:
                held[why] += 1
        if not dry_run:
            q.move(conn, chosen, now, checkpoint, summaries)
    result.held.update(held)
    result.archived.extend(chosen)
    last = rows[-1]
    return (last["created_at"], str(last["id"]))


def _one_by_one(
    store: Store,
    result: ArchiveRun,
    after: tuple[datetime, str] | None,
    size: int,
    dry_run: bool,
    now: datetime,
) -> tuple[datetime, str] | None:
    """The candidates of a failed batch, each in a transaction of its own."""
    with store.begin(write=False) as conn:
        rows = q.candidates(conn, result.cutoff, after, size)
    if not rows:
        return None
    for row in rows:
        iid = str(row["id"])
        try:
            _batch(store, result, after, size, dry_run, now, only=iid)
        except DatabaseBusy:
            raise
        except Exception as exc:
            result.failed[iid] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            log.warning("instance %s not archived: %s", iid, result.failed[iid])
    last = rows[-1]
    return (last["created_at"], str(last["id"]))
