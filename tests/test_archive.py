"""Archive and retention, on SQLite and PostgreSQL: ended instances past the retention period
leave the live tables once a signed checkpoint covers their events; they are read from the
archive (410 on the live routes), their proofs verify with the public key alone, the export and
the offline verifier still pass, an edit in the archive is found, and nothing is ever half moved.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from conftest import Api
from powerflow.audit_log import note, offline
from powerflow.audit_log.bundle import verify_bundle
from powerflow.audit_log.chain import event_hash
from powerflow.clock import ManualClock
from powerflow.db import archive_queries
from powerflow.db.models import ArchivedInstance, Webhook
from powerflow.services import audit
from powerflow.services.archive import mover
from powerflow.services.archive.verify import verify_archive
from powerflow.services.audit import checkpoints, sequencer
from powerflow.services.audit.export import CHECKPOINTS, LEAF_HASHES, LEAVES, export
from powerflow.services.events import hashed_content
from powerflow.services.supervision import statistics
from powerflow.workers import ArchiveWorker
from test_audit_log_api import run_expense

DAY = timedelta(days=1)


class World:
    """gateway.bpmn deployed on a store whose clock started 60 days ago."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.c = api.client
        self.clock = ManualClock(datetime.now(UTC) - 60 * DAY)
        api.store.clock = self.clock
        assert api.deploy("gateway.bpmn").status_code in (200, 201)
        self.employee = api.user("clerk,employee")
        self.manager = api.user("clerk,manager")
        self.auditor = api.user("auditor")
        self.stranger = api.user("clerk,gardener")

    @property
    def signer(self) -> note.Signer:
        signer: note.Signer = self.c.app.state.audit_signer  # type: ignore[attr-defined]
        return signer

    def finished(self, n: int) -> list[str]:
        return [run_expense(self.api, self.employee, self.manager) for _ in range(n)]

    def running(self) -> dict[str, Any]:
        made = self.c.post(
            "/v1/instances", headers=self.employee, json={"definition_key": "expense"}
        )
        assert made.status_code == 201, made.text
        return dict(made.json())

    def settle(self) -> None:
        """What the service's workers do: count the statistics, sequence and checkpoint."""
        statistics.count_new_events(self.api.store, limit=None)
        checkpoints.make(self.api.store, self.signer)

    def counts(self) -> dict[str, int]:
        with self.api.store.begin(write=False) as conn:
            return archive_queries.table_counts(conn)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.api.store.begin(write=False) as conn:
            return list(conn.execute(text(sql), params))

    def export_and_verify(self, out: Path, kept: Path) -> offline.Report:
        export(self.api.store, out)
        return offline.verify(
            out / LEAVES,
            offline.read_checkpoints(kept),
            self.signer.verifier,
            stored_hashes=out / LEAF_HASHES,
        )


@pytest.fixture
def world(api: Api) -> World:
    return World(api)


def test_archiving_moves_old_instances_and_reads_answer_from_the_archive(
    world: World, tmp_path: Path
) -> None:
    w, c = world, world.c
    old = w.finished(3)
    keyed = c.post(
        "/v1/instances",
        headers=w.employee,
        json={"definition_key": "expense", "business_key": "EXP-2026-001"},
    ).json()
    done = c.post(
        f"/v1/tasks/{keyed['tasks'][0]['id']}/complete",
        headers=w.employee,
        json={"data": {"amount": 5000, "note": "x"}},
    ).json()
    last_task = done["tasks"][0]["id"]
    assert (
        c.post(
            f"/v1/tasks/{last_task}/complete",
            headers=w.manager,
            json={"data": {"approved": True, "ratio": 0.1}},
        ).status_code
        == 200
    )
    old.append(keyed["id"])
    w.clock.advance(40 * DAY)
    recent = w.finished(1)  # ended 20 days ago by the time the period is 30 days
    running = w.running()  # holds the newest event
    w.clock.advance(20 * DAY)
    w.settle()
    before = tmp_path / "before"
    export(w.api.store, before)
    kept = tmp_path / "kept.jsonl"
    kept.write_bytes((before / CHECKPOINTS).read_bytes())
    counts = w.counts()

    dry = mover.run(w.api.store, 30, dry_run=True)
    assert sorted(dry.archived) == sorted(old) and dry.dry_run
    assert w.counts() == counts  # a dry run changes nothing

    run = mover.run(w.api.store, 30, batch=2)
    assert sorted(run.archived) == sorted(old) and not run.failed
    assert mover.run(w.api.store, 30).archived == []  # twice: nothing more
    after = w.counts()
    assert after["instances"] == counts["instances"] - 4
    assert after["archived_instances"] == 4 and after["archived_tasks"] == 8
    moved_events = counts["events"] - after["events"]
    assert moved_events == after["archived_events"] > 0
    assert after["tasks"] == counts["tasks"] - 8 and after["task_roles"] < counts["task_roles"]
    for table in ("instances", "tasks", "events"):
        column = "id" if table == "instances" else "instance_id"
        assert not w.rows(f"SELECT 1 FROM {table} WHERE {column} = :i", i=old[0])

    # the live routes say where the instance went; writes are refused the same way
    gone = c.get(f"/v1/instances/{old[0]}", headers=w.employee)
    assert gone.status_code == 410, gone.text
    assert gone.json()["archive"] == f"/v1/archive/instances/{old[0]}"
    assert "archived on" in gone.json()["detail"] and "read-only" in gone.json()["detail"]
    for path in (f"/v1/instances/{old[0]}/events", f"/v1/instances/{old[0]}/audit"):
        assert c.get(path, headers=w.employee).status_code == 410
    assert c.get(f"/v1/tasks/{last_task}", headers=w.manager).status_code == 410
    late = c.post(
        f"/v1/tasks/{last_task}/complete", headers=w.manager, json={"data": {"approved": True}}
    )
    assert late.status_code == 410 and keyed["id"] in late.json()["detail"]
    cancel = c.post(f"/v1/instances/{old[0]}/cancel", headers=w.api.admin, json={"reason": "x"})
    assert cancel.status_code == 410, cancel.text
    # nobody learns more than before: a stranger is told it does not exist
    assert c.get(f"/v1/instances/{old[0]}", headers=w.stranger).status_code == 404
    assert c.get(f"/v1/archive/instances/{old[0]}", headers=w.stranger).status_code == 404
    assert c.get(f"/v1/tasks/{last_task}", headers=w.stranger).status_code == 404

    # the archive answers, read-only, for the same people
    record = c.get(f"/v1/archive/instances/{keyed['id']}", headers=w.manager)
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["business_key"] == "EXP-2026-001" and body["status"] == "completed"
    assert [e["seq"] for e in body["events"]] == list(range(1, len(body["events"]) + 1))
    assert {t["id"] for t in body["tasks"]} >= {last_task}
    monitor, designer = w.api.user("monitor"), w.api.user("designer")
    for who, status in ((monitor, 200), (w.auditor, 200), (w.api.admin, 200), (designer, 404)):
        assert c.get(f"/v1/archive/instances/{old[0]}", headers=who).status_code == status
        assert c.get(f"/v1/instances/{old[0]}", headers=who).status_code == (
            410 if status == 200 else 404
        )
    listed = c.get("/v1/instances?limit=500", headers=w.api.admin).json()["items"]
    assert {i["id"] for i in listed} == {recent[0], running["id"]}
    # a business key names one case for good
    again = c.post(
        "/v1/instances",
        headers=w.employee,
        json={"definition_key": "expense", "business_key": "EXP-2026-001"},
    )
    assert again.status_code == 409, again.text

    # the global event list reads on across the ids that left
    feed = c.get("/v1/events?after=0&limit=1000", headers=monitor)
    assert feed.status_code == 200, feed.text
    assert {e["instance_id"] for e in feed.json()["items"]} == {recent[0], running["id"]}

    # proofs: the instance's events against a signed checkpoint, with the public key alone
    assert c.get(f"/v1/archive/instances/{old[0]}/proofs", headers=w.employee).status_code == 403
    bundle = c.get(f"/v1/archive/instances/{old[0]}/proofs", headers=w.auditor).json()
    report = verify_bundle(bundle, w.signer.verifier)
    assert report.ok and report.events == len(bundle["events"]) > 2, report.problems
    forged = json.loads(json.dumps(bundle))
    forged["events"][1]["leaf"] = forged["events"][1]["leaf"].replace('"seq":2', '"seq":2 ')
    assert not verify_bundle(forged, w.signer.verifier).ok

    # the export is byte for byte what it was, and verifies offline; online verify too
    report = w.export_and_verify(tmp_path / "after", kept)
    assert report.ok, report.problems
    assert (tmp_path / "after" / LEAVES).read_bytes() == (before / LEAVES).read_bytes()
    assert audit.verify_all(w.api.store).broken is None
    archived = verify_archive(w.api.store)
    assert archived.broken is None and archived.instances == 4
    assert archived.events == moved_events


def _rechain_archived(conn: Any, instance_id: str) -> None:
    """A forger with write access recomputes the archived instance's chain end to end."""
    rows = conn.execute(
        text("SELECT * FROM archived_events WHERE instance_id = :i ORDER BY seq"),
        {"i": instance_id},
    ).mappings()
    prev = None
    for row in rows:
        ev = dict(row)
        if isinstance(ev["payload"], str):
            ev["payload"] = json.loads(ev["payload"])
        if isinstance(ev["occurred_at"], str):
            ev["occurred_at"] = datetime.fromisoformat(ev["occurred_at"])
        if ev["occurred_at"].tzinfo is None:
            ev["occurred_at"] = ev["occurred_at"].replace(tzinfo=UTC)
        h = event_hash(prev, hashed_content(ev))
        conn.execute(
            text("UPDATE archived_events SET prev_hash = :p, hash = :h WHERE id = :id"),
            {"p": prev, "h": h, "id": ev["id"]},
        )
        prev = h
    conn.execute(
        text("UPDATE archived_instances SET last_event_hash = :h WHERE id = :i"),
        {"h": prev, "i": instance_id},
    )


@pytest.mark.parametrize("rechain", [False, True], ids=["edited", "edited-and-rechained"])
def test_an_edited_archived_event_is_found(world: World, tmp_path: Path, rechain: bool) -> None:
    w = world
    old = w.finished(2)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    kept = tmp_path / "kept.jsonl"
    export(w.api.store, tmp_path / "before")
    kept.write_bytes((tmp_path / "before" / CHECKPOINTS).read_bytes())
    assert sorted(mover.run(w.api.store, 30).archived) == sorted(old)
    bundle = w.c.get(f"/v1/archive/instances/{old[1]}/proofs", headers=w.auditor).json()
    event_id = w.rows(
        "SELECT id FROM archived_events WHERE instance_id = :i AND seq = 3", i=old[1]
    )[0][0]
    with w.api.store.begin(write=True) as conn:
        conn.execute(
            text("""UPDATE archived_events SET payload = '{"amount": 999999}' WHERE id = :i"""),
            {"i": event_id},
        )
        if rechain:
            _rechain_archived(conn, old[1])
    broken = verify_archive(w.api.store).broken
    assert broken is not None and broken.instance_id == old[1] and broken.seq is not None
    assert broken.seq <= 3
    report = w.export_and_verify(tmp_path / "after", kept)
    assert not report.ok and "leaf" in report.problems[0]
    after = w.c.get(f"/v1/archive/instances/{old[1]}/proofs", headers=w.auditor).json()
    assert verify_bundle(bundle, w.signer.verifier).ok  # the bundle taken before still holds
    assert not verify_bundle(after, w.signer.verifier).ok


def test_an_edited_archived_record_is_found_against_the_state_binding(world: World) -> None:
    w = world
    old = w.finished(1)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    assert mover.run(w.api.store, 30).archived == old
    assert verify_archive(w.api.store).broken is None
    with w.api.store.write() as session:
        row = session.get(ArchivedInstance, old[0])
        assert row is not None
        record = json.loads(json.dumps(row.record))
        record["instance"]["data"]["amount"] = 999_999
        row.record = record
    broken = verify_archive(w.api.store).broken
    assert broken is not None and "archived record was changed" in broken.reason


def test_what_is_held_back(world: World) -> None:
    w, c = world, world.c
    with_case, ok, webhooked = w.finished(3)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    late = w.finished(1)  # old enough later, but no checkpoint covers it yet
    w.running()
    statistics.count_new_events(w.api.store, limit=None)
    monitor = w.api.user("monitor")
    opened = c.post(
        "/v1/cases",
        headers=monitor,
        json={"instance_id": with_case, "title": "Check", "reason": "A payment to review."},
    )
    assert opened.status_code == 201, opened.text
    w.clock.advance(40 * DAY)
    statistics.count_new_events(w.api.store, limit=None)

    # a webhook that has not delivered past an instance's events holds it back
    webhook_cursor = max(
        r[0] for r in w.rows("SELECT id FROM events WHERE instance_id = :i", i=webhooked)
    )
    with w.api.store.write() as session:
        session.add(
            Webhook(
                url="https://hooks.example.com/pf",
                secret="s",
                filters={},
                created_by="admin",
                cursor=webhook_cursor - 1,
            )
        )
    run = mover.run(w.api.store, 30)
    assert run.archived == [ok]
    assert any("webhook" in why for why in run.held), run.held
    assert any("not every event is in the audit log" in why for why in run.held), run.held
    sequencer.sequence(w.api.store)  # in the log now, but after the newest checkpoint
    assert mover.run(w.api.store, 30).held["no signed checkpoint covers its last events yet"]
    with w.api.store.write() as session:
        session.query(Webhook).delete()
    checkpoints.make(w.api.store, w.signer)
    run = mover.run(w.api.store, 30)
    assert sorted(run.archived) == sorted([webhooked, *late])
    assert c.get(f"/v1/instances/{with_case}", headers=w.employee).status_code == 200

    # the statistics hold back what they have not counted
    young = w.finished(1)
    w.running()
    w.clock.advance(40 * DAY)
    checkpoints.make(w.api.store, w.signer)
    run = mover.run(w.api.store, 30)
    assert run.archived == [] and any("statistics" in why for why in run.held), run.held
    statistics.count_new_events(w.api.store, limit=None)
    assert mover.run(w.api.store, 30).archived == young


def test_a_failing_batch_leaves_no_instance_half_archived(world: World) -> None:
    w = world
    old = w.finished(4)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    poisoned = old[2]
    event_id = w.rows("SELECT min(id) FROM events WHERE instance_id = :i", i=poisoned)[0][0]
    # a stray archived row with the id of one of its events: its copy violates the key
    with w.api.store.begin(write=True) as conn:
        conn.execute(
            text(
                "INSERT INTO archived_events (id, instance_id, seq, type, definition_key, "
                "definition_version, actor, payload, occurred_at, hash) VALUES (:id, 'stray', 1, "
                "'x', 'x', 1, 'x', '{}', :at, 'x')"
            ),
            {"id": event_id, "at": datetime.now(UTC)},
        )
    seq = w.rows("SELECT event_seq FROM instances WHERE id = :i", i=poisoned)[0][0]
    run = mover.run(w.api.store, 30, batch=10)
    assert sorted(run.archived) == sorted(set(old) - {poisoned})
    assert list(run.failed) == [poisoned]
    assert w.rows("SELECT count(*) FROM events WHERE instance_id = :i", i=poisoned)[0][0] == seq
    assert w.rows("SELECT count(*) FROM tasks WHERE instance_id = :i", i=poisoned)[0][0] == 2
    assert not w.rows("SELECT 1 FROM archived_instances WHERE id = :i", i=poisoned)
    assert not w.rows("SELECT 1 FROM archived_tasks WHERE instance_id = :i", i=poisoned)
    assert w.c.get(f"/v1/instances/{poisoned}", headers=w.employee).status_code == 200
    assert audit.verify_all(w.api.store).broken is None


def test_two_archivers_at_once_move_each_instance_once(world: World) -> None:
    w = world
    old = w.finished(12)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    events = w.counts()["events"]
    results: list[mover.ArchiveRun] = []
    errors: list[BaseException] = []

    def archive() -> None:
        try:
            results.append(mover.run(w.api.store, 30, batch=2))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=archive) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    moved = [i for r in results for i in r.archived]
    assert sorted(moved) == sorted(old)  # each once, none twice
    after = w.counts()
    assert after["archived_instances"] == 12
    assert after["events"] + after["archived_events"] == events
    assert verify_archive(w.api.store).broken is None


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powerflow", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_run_proofs_and_verify(sqlite_api: Api, tmp_path: Path) -> None:
    w = World(sqlite_api)
    old = w.finished(2)
    w.clock.advance(40 * DAY)  # still 20 days behind the real clock the CLI reads
    w.running()
    w.settle()
    url = w.api.store.url.render_as_string(hide_password=False)
    vkey = w.signer.verifier.encode()
    missing = _cli("archive", "run", "--database-url", url)
    assert missing.returncode == 2 and "--older-than" in missing.stderr
    dry = _cli("archive", "run", "--older-than", "30", "--dry-run", "--database-url", url)
    assert dry.returncode == 0 and "would archive 2 instances" in dry.stdout, dry.stderr
    done = _cli("archive", "run", "--older-than", "30", "--database-url", url)
    assert done.returncode == 0 and "archived 2 instances" in done.stdout, done.stderr
    out = tmp_path / "proofs.json"
    made = _cli("archive", "proofs", old[0], "--out", out, "--database-url", url)
    assert made.returncode == 0, made.stderr
    ok = _cli("archive", "verify-proofs", out, "--public-key", vkey)
    assert ok.returncode == 0 and "verified" in ok.stdout, ok.stderr
    bundle = json.loads(out.read_text())
    bundle["events"][0]["leaf"] = bundle["events"][0]["leaf"].replace("expense", "expenses")
    out.write_text(json.dumps(bundle))
    bad = _cli("archive", "verify-proofs", out, "--public-key", vkey)
    assert bad.returncode == 1 and "BROKEN" in bad.stderr
    verified = _cli("audit", "verify", "--database-url", url)
    assert verified.returncode == 0 and "2 archived instances" in verified.stdout, verified.stderr


def test_the_archive_worker_archives_in_the_background(world: World) -> None:
    w = world
    old = w.finished(3)
    w.clock.advance(40 * DAY)
    w.running()
    w.settle()
    worker = ArchiveWorker(w.api.store, 30, 0.05, batch=2)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and w.counts()["archived_instances"] < 3:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert w.counts()["archived_instances"] == 3
    assert {r[0] for r in w.rows("SELECT id FROM archived_instances")} == set(old)
