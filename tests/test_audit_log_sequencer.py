"""The sequencer under concurrency: writers and several sequencers at once never lose or
duplicate a leaf, and an event whose transaction commits late is appended later, not skipped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from conftest import POSTGRES, POSTGRES_URL, _fresh_postgres
from powerflow.audit_log import CompactRange, inclusion_proof, leaf_hash, verify_inclusion
from powerflow.db import audit_queries as q
from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import AuditLeaf, Event
from powerflow.services.audit import sequencer
from powerflow.services.audit.leaves import leaf_bytes

EVENTS = Event.__table__


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    migrate.upgrade(s.engine)
    try:
        yield s
    finally:
        s.dispose()


def _event(conn: Connection, instance: str, seq: int) -> None:
    conn.execute(
        insert(EVENTS).values(
            instance_id=instance,
            seq=seq,
            type="task.completed",
            definition_key="p",
            definition_version=1,
            element_id="t",
            element_name=None,
            task_id=None,
            actor="lin",
            payload={"n": seq, "text": "café"},
            occurred_at=datetime.now(UTC),
            prev_hash=None,
            hash=f"{seq:064x}",
        )
    )


def _check_log(store: Store) -> int:
    """Every committed event is exactly one leaf, leaves 0..n-1, and the stored subtrees
    agree with the leaves recomputed from the event rows."""
    with store.begin(write=False) as conn:
        events = {r["id"]: r for r in conn.execute(select(EVENTS)).mappings()}
        leaves = list(
            conn.execute(
                select(AuditLeaf.leaf_index, AuditLeaf.event_id, AuditLeaf.leaf_hash).order_by(
                    AuditLeaf.leaf_index
                )
            )
        )
        assert [leaf[0] for leaf in leaves] == list(range(len(leaves)))
        assert sorted(leaf[1] for leaf in leaves) == sorted(events)
        hashes = [leaf_hash(leaf_bytes(events[leaf[1]])) for leaf in leaves]
        assert hashes == [bytes(leaf[2]) for leaf in leaves]
        size = len(hashes)
        compact = CompactRange()
        for h in hashes:
            compact.append(h)
        assert sequencer.edge(conn, size).root() == compact.root()
        for index in {0, size // 3, size - 1}:
            proof = inclusion_proof(index, size, lambda c: q.subtree_hashes(conn, c))
            assert verify_inclusion(hashes[index], index, size, proof, compact.root())
    return size


def test_writers_and_two_sequencers_never_lose_or_duplicate(store: Store) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for seq in range(1, 61):
                with store.begin(write=True) as conn:
                    _event(conn, f"instance-{worker}", seq)
                    if seq % 3 == 0:
                        _event(conn, f"other-{worker}", seq)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def sequence() -> None:
        try:
            while not stop.is_set():
                sequencer.sequence(store, batch=17)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    sequencers = [threading.Thread(target=sequence) for _ in range(2)]
    for t in (*sequencers, *writers):
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in sequencers:
        t.join()
    assert errors == []
    sequencer.sequence(store)
    assert _check_log(store) == 3 * 80


def test_a_pass_appends_in_slices_and_finds_the_rest_again_when_another_appended(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write lock is taken per slice of SLICE events; when another appender extended the
    tree between two slices (here: before the second), the pass appends what is still pending
    under the lock instead of its precomputed rows, and no leaf is lost or doubled."""
    monkeypatch.setattr(sequencer, "SLICE", 4)
    with store.begin(write=True) as conn:
        for seq in range(1, 11):
            _event(conn, "sliced", seq)
    slices: list[int] = []
    real = sequencer._tree_rows

    def tree_rows(tree: CompactRange, leaves: list[tuple[int, bytes]]) -> Any:
        slices.append(len(leaves))
        if len(slices) == 2:  # another worker appends everything pending first
            with store.begin(write=True) as conn:
                sequencer.append_pending(conn)
            with store.begin(write=True) as conn:
                _event(conn, "sliced", 11)  # and one more event arrives
        return real(tree, leaves)

    monkeypatch.setattr(sequencer, "_tree_rows", tree_rows)
    assert sequencer.sequence(store) == 4 + 1  # its first slice, then the one new event
    # its two slices; the other worker's 6 (10 - 4); the pass's own look again under the lock
    assert slices == [4, 4, 6, 1]
    assert _check_log(store) == 11
    slices.clear()
    with store.begin(write=True) as conn:
        for seq in range(12, 21):
            _event(conn, "sliced", seq)
    monkeypatch.setattr(sequencer, "_tree_rows", real)
    assert sequencer.sequence(store) == 9  # three slices, nobody in between
    assert _check_log(store) == 20


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason=f"PostgreSQL not reachable at {POSTGRES_URL}")
def test_a_late_commit_is_appended_later_not_skipped() -> None:
    """PostgreSQL only: SQLite has one writer at a time, so it commits in id order."""
    store = Store(_fresh_postgres())
    migrate.upgrade(store.engine)
    try:
        late = store.engine.connect()
        tx = late.begin()
        _event(late, "late", 1)  # takes an id now, commits at the end
        late_id = late.execute(select(EVENTS.c.id).where(EVENTS.c.instance_id == "late")).scalar()
        for seq in range(1, 4):
            with store.begin(write=True) as conn:
                _event(conn, "early", seq)
        assert sequencer.sequence(store) == 3
        tx.commit()
        late.close()
        assert sequencer.sequence(store) == 1
        with store.begin(write=False) as conn:
            leaf = q.leaf_of_event(conn, int(late_id))
            assert leaf is not None and leaf[0] == 3  # after the three early events
            assert q.last_sequenced_event(conn) > int(late_id)
        assert sequencer.sequence(store) == 0
        assert _check_log(store) == 4
    finally:
        store.dispose()


def test_full_pass_finds_what_the_window_left(store: Store) -> None:
    """An event older than the window (a commit later than any window) is found by a full
    pass (``powerflow audit sequence --full``)."""
    with store.begin(write=True) as conn:
        for seq in range(1, 6):
            _event(conn, "a", seq)
    # sequence all but the first, as if event 1 had committed after a window of 2
    with store.begin(write=True) as conn:
        first = conn.execute(select(EVENTS.c.id).order_by(EVENTS.c.id)).scalars().first()
        rows = q.unsequenced_events(conn, int(first or 0), 100)
        tree = CompactRange()
        leaves, nodes = [], []
        for ev in rows:
            h = leaf_hash(leaf_bytes(ev))
            leaves.append({"leaf_index": tree.size, "event_id": ev["id"], "leaf_hash": h})
            for level, index, node in tree.append(h)[1:]:
                nodes.append({"level": level, "node_index": index, "hash": node})
        q.append(conn, leaves, nodes)
    assert sequencer.sequence(store, window=2) == 0
    assert sequencer.sequence(store, full=True) == 1
    assert _check_log(store) == 5
