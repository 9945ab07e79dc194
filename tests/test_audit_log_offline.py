"""The offline verifier finds every kind of tampering after a checkpoint, a forked log, and a
missing witness cosignature; with the public key, checkpoints kept apart and an export only."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Connection, text

from conftest import Api
from powerflow.audit_log import note, offline
from powerflow.audit_log.chain import event_hash
from powerflow.audit_log.checkpoint import Checkpoint
from powerflow.services.audit import checkpoints, keys
from powerflow.services.audit.export import CHECKPOINTS, export
from powerflow.services.events import hashed_content
from test_audit_log_api import run_expense


def _url(api: Api) -> str:
    return api.store.url.render_as_string(hide_password=False)


def _signer(api: Api) -> note.Signer:
    signer: note.Signer = api.client.app.state.audit_signer  # type: ignore[attr-defined]
    return signer


@pytest.fixture
def logged(sqlite_api: Api, tmp_path: Path) -> tuple[Api, Path]:
    """Three finished instances, a checkpoint, and the checkpoints kept by the auditor."""
    api = sqlite_api
    api.deploy("gateway.bpmn")
    employee, manager = api.user("clerk,employee"), api.user("clerk,manager")
    for _ in range(3):
        run_expense(api, employee, manager)
    checkpoints.make(api.store, _signer(api))
    kept = tmp_path / "kept-checkpoints.jsonl"
    export(api.store, tmp_path / "before")
    kept.write_bytes((tmp_path / "before" / CHECKPOINTS).read_bytes())
    return api, kept


def _verify(api: Api, kept: Path, tmp_path: Path) -> offline.Report:
    out = tmp_path / "export"
    export(api.store, out)
    return offline.verify(
        out / "leaves.jsonl",
        offline.read_checkpoints(kept),
        _signer(api).verifier,
        stored_hashes=out / "leaf_hashes.txt",
    )


def _rechain(conn: Connection, instance_id: str) -> None:
    """What a forger with write access does: recompute the instance's chain end to end."""
    rows = conn.execute(
        text("SELECT * FROM events WHERE instance_id = :i ORDER BY seq"), {"i": instance_id}
    ).mappings()
    prev = None
    from powerflow.db.models import Event

    for row in rows:
        ev = dict(row)
        ev["payload"] = (
            json.loads(ev["payload"]) if isinstance(ev["payload"], str) else ev["payload"]
        )
        ev["occurred_at"] = Event.__table__.c.occurred_at.type.process_result_value(
            _parse(ev["occurred_at"]), conn.dialect
        )
        h = event_hash(prev, hashed_content(ev))
        conn.execute(
            text("UPDATE events SET prev_hash = :p, hash = :h WHERE id = :id"),
            {"p": prev, "h": h, "id": ev["id"]},
        )
        prev = h
    conn.execute(
        text("UPDATE instances SET last_event_hash = :h WHERE id = :i"),
        {"h": prev, "i": instance_id},
    )


def _parse(value: object) -> object:
    from datetime import datetime

    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _instance_of(conn: Connection, event_id: int) -> str:
    return str(
        conn.execute(text("SELECT instance_id FROM events WHERE id = :i"), {"i": event_id}).scalar()
    )


def edit_payload(conn: Connection) -> None:
    conn.execute(text("""UPDATE events SET payload = '{"amount": 999999}' WHERE id = 4"""))


def edit_and_rechain(conn: Connection) -> None:
    edit_payload(conn)
    _rechain(conn, _instance_of(conn, 4))


def delete_and_rechain(conn: Connection) -> None:
    instance = _instance_of(conn, 3)
    conn.execute(text("DELETE FROM events WHERE id = 3"))
    conn.execute(
        text("UPDATE events SET seq = seq - 1 WHERE instance_id = :i AND id > 3"), {"i": instance}
    )
    conn.execute(
        text("UPDATE instances SET event_seq = event_seq - 1 WHERE id = :i"), {"i": instance}
    )
    _rechain(conn, instance)


def insert_and_rechain(conn: Connection) -> None:
    """A forged event placed in the middle of an instance's history."""
    instance = _instance_of(conn, 2)
    conn.execute(
        text("UPDATE events SET seq = seq + 100 WHERE instance_id = :i AND seq >= 2"),
        {"i": instance},
    )
    conn.execute(
        text("UPDATE events SET seq = seq - 99 WHERE instance_id = :i AND seq >= 102"),
        {"i": instance},
    )
    conn.execute(
        text(
            "INSERT INTO events (instance_id, seq, type, definition_key, definition_version, "
            "element_id, element_name, task_id, actor, payload, occurred_at, prev_hash, hash) "
            "SELECT instance_id, 2, 'task.completed', definition_key, definition_version, "
            "element_id, element_name, task_id, 'forger', '{}', occurred_at, NULL, 'x' "
            "FROM events WHERE id = 1"
        )
    )
    conn.execute(
        text("UPDATE instances SET event_seq = event_seq + 1 WHERE id = :i"), {"i": instance}
    )
    _rechain(conn, instance)


def swap_ids(conn: Connection) -> None:
    """Two events exchange their global ids (and leaves follow the rows)."""
    conn.execute(text("UPDATE events SET id = -5 WHERE id = 5"))
    conn.execute(text("UPDATE events SET id = 5 WHERE id = 6"))
    conn.execute(text("UPDATE events SET id = 6 WHERE id = -5"))


def rewrite_the_log_too(conn: Connection) -> None:
    """A forger who also rewrites the log's leaves and stored hashes to match the edit."""
    edit_and_rechain(conn)
    conn.execute(text("DELETE FROM audit_leaves"))
    conn.execute(text("DELETE FROM audit_nodes"))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (edit_payload, "leaf 3 (event 4"),
        (edit_and_rechain, "leaf 3: the exported event does not hash"),
        (delete_and_rechain, "leaf 2: no event in the export"),
        (insert_and_rechain, "leaf 1 (event 2"),
        (swap_ids, "leaf 4 (event 5"),
        (rewrite_the_log_too, "does not match the signed checkpoint of that size: a leaf among 0"),
    ],
)
def test_tampering_after_a_checkpoint_is_found(
    logged: tuple[Api, Path], tmp_path: Path, tamper: Callable[[Connection], None], expected: str
) -> None:
    api, kept = logged
    assert _verify(api, kept, tmp_path).ok
    with api.store.engine.begin() as conn:
        tamper(conn)
    checkpoints.make(api.store, _signer(api))  # the operator signs on: the old one still holds
    report = _verify(api, kept, tmp_path)
    assert not report.ok
    assert expected in report.problems[0], report.problems


def test_a_forked_log_is_found(logged: tuple[Api, Path], tmp_path: Path) -> None:
    api, kept = logged
    signer = _signer(api)
    first = offline.read_checkpoints(kept)[0]
    size = int(first.split("\n")[1])
    fork = note.sign(Checkpoint(signer.name, size, hashlib.sha256(b"fork").digest()).body(), signer)
    with kept.open("a") as f:
        f.write(json.dumps({"note": fork.encode()}) + "\n")
    report = _verify(api, kept, tmp_path)
    assert not report.ok and "forked log: two checkpoints of size" in report.problems[0]
    # a checkpoint signed by another key is refused too
    other = note.Signer.generate(signer.name)
    forged = note.sign(Checkpoint(signer.name, size, b"\x00" * 32).body(), other)
    kept.write_text(json.dumps({"note": forged.encode()}) + "\n")
    report = _verify(api, kept, tmp_path)
    assert "not signed by the log's key" in report.problems[0]


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powerflow", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_export_verify_and_witness(logged: tuple[Api, Path], tmp_path: Path) -> None:
    api, kept = logged
    url = _url(api)
    vkey = _signer(api).verifier.encode()
    assert _cli("key", "--database-url", url).stdout.strip() == vkey
    out = tmp_path / "cli-export"
    done = _cli("export", "--out", out, "--database-url", url)
    assert done.returncode == 0 and "exported" in done.stdout, done.stderr
    ok = _cli("verify", "--offline", "--public-key", vkey, "--checkpoints", kept, "--export", out)
    assert ok.returncode == 0 and "verified offline: 1 checkpoints" in ok.stdout, ok.stderr

    # a witness cosigns the newest checkpoint, after checking consistency with its last one
    witness_key = tmp_path / "witness.key"
    made = _cli("witness-key", "--name", "witness.example/w1", "--out", witness_key)
    witness_vkey = made.stdout.strip()
    assert (witness_key.stat().st_mode & 0o777) == 0o600
    state = tmp_path / "witness-state.txt"
    first = tmp_path / "first.txt"
    first.write_text(offline.read_checkpoints(kept)[0])
    cosign = _cli(
        "cosign", "--key", witness_key, "--checkpoint", first, "--log-key", vkey, "--state", state
    )
    assert cosign.returncode == 0, cosign.stderr
    assert note.parse(cosign.stdout).signed_by(note.parse_verifier(witness_vkey))

    required = (
        "verify",
        "--offline",
        "--public-key",
        vkey,
        "--export",
        out,
        "--witness-key",
        witness_vkey,
    )
    unwitnessed = _cli(*required, "--checkpoints", kept)
    assert unwitnessed.returncode == 1 and "not cosigned by witness" in unwitnessed.stderr
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(cosign.stdout)
    witnessed = _cli(*required, "--checkpoints", cosigned)
    assert witnessed.returncode == 0, witnessed.stderr

    # the next checkpoint: consistent with the witness's last one, shown by the API's proof
    employee, manager = api.user("clerk,employee"), api.user("clerk,manager")
    run_expense(api, employee, manager)
    newer = checkpoints.make(api.store, _signer(api))
    old_size = int(first.read_text().split("\n")[1])
    auditor = api.user("auditor")
    proof = api.client.get(
        f"/v1/audit/proofs/consistency?from={old_size}&to={newer.tree_size}", headers=auditor
    )
    (tmp_path / "proof.json").write_text(proof.text)
    (tmp_path / "newer.txt").write_text(newer.note)
    no_proof = _cli(
        "cosign",
        "--key",
        witness_key,
        "--checkpoint",
        tmp_path / "newer.txt",
        "--log-key",
        vkey,
        "--state",
        state,
    )
    assert no_proof.returncode == 1 and "consistency proof" in no_proof.stderr
    again = _cli(
        "cosign",
        "--key",
        witness_key,
        "--checkpoint",
        tmp_path / "newer.txt",
        "--log-key",
        vkey,
        "--state",
        state,
        "--proof",
        tmp_path / "proof.json",
    )
    assert again.returncode == 0, again.stderr
    # a fork of the size the witness saw last is refused
    signer = _signer(api)
    fork = note.sign(Checkpoint(signer.name, newer.tree_size, b"\x07" * 32).body(), signer)
    (tmp_path / "fork.txt").write_text(fork.encode())
    refused = _cli(
        "cosign",
        "--key",
        witness_key,
        "--checkpoint",
        tmp_path / "fork.txt",
        "--log-key",
        vkey,
        "--state",
        state,
    )
    assert refused.returncode == 1 and "FORK" in refused.stderr

    # the service keeps the cosignature of a configured witness only
    api.client.app.state.settings.audit_witness_keys = [witness_vkey]  # type: ignore[attr-defined]
    added = api.client.post(
        f"/v1/audit/checkpoints/{newer.tree_size}/cosignatures",
        headers=api.admin,
        json={"note": again.stdout},
    )
    assert added.status_code == 200, added.text
    assert note.parse(added.json()["note"]).signed_by(note.parse_verifier(witness_vkey))
    stranger = _cli("witness-key", "--name", "w2.example", "--out", tmp_path / "w2.key")
    strange = note.parse(newer.note).with_signature(
        note.signature(
            newer.note.split("\n\n")[0] + "\n",
            note.parse_signer((tmp_path / "w2.key").read_text()),
            1,
        )
    )
    assert stranger.returncode == 0
    unknown = api.client.post(
        f"/v1/audit/checkpoints/{newer.tree_size}/cosignatures",
        headers=api.admin,
        json={"note": strange.encode()},
    )
    assert unknown.status_code == 422 and "no cosignature of a configured witness" in unknown.text
    mismatch = api.client.post(
        f"/v1/audit/checkpoints/{old_size}/cosignatures",
        headers=api.admin,
        json={"note": again.stdout},
    )
    assert mismatch.status_code == 422 and "is not the checkpoint of tree size" in mismatch.text


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "k" / "audit.key"
    signer, created = keys.load_or_create(path, "audit.example/log")
    assert created and (path.stat().st_mode & 0o777) == 0o600
    again, created_again = keys.load_or_create(path)
    assert again == signer and not created_again and again.name == "audit.example/log"
    path.write_text("nonsense")
    with pytest.raises(ValueError, match="not a signer key"):
        keys.load_or_create(path)
    assert orjson.loads(b"{}") == {}


def test_an_event_added_to_the_past_after_the_checkpoint_is_flagged(
    logged: tuple[Api, Path], tmp_path: Path
) -> None:
    """Appending a well-formed event after the checkpoint cannot change the signed tree; one
    dated before the checkpoint is named as a warning for the auditor."""
    api, kept = logged
    with api.store.engine.begin() as conn:
        instance = _instance_of(conn, 1)
        conn.execute(
            text(
                "INSERT INTO events (instance_id, seq, type, definition_key, definition_version, "
                "element_id, element_name, task_id, actor, payload, occurred_at, prev_hash, hash) "
                "SELECT instance_id, (SELECT max(seq) + 1 FROM events WHERE instance_id = :i), "
                "'task.completed', definition_key, definition_version, element_id, element_name, "
                "task_id, 'forger', '{}', '2020-01-01 00:00:00.000000', NULL, 'x' "
                "FROM events WHERE id = 1"
            ),
            {"i": instance},
        )
        conn.execute(
            text("UPDATE instances SET event_seq = event_seq + 1 WHERE id = :i"), {"i": instance}
        )
        _rechain(conn, instance)
    report = _verify(api, kept, tmp_path)
    assert report.ok, report.problems
    assert any("is dated" in n and "added to the past" in n for n in report.notes), report.notes
