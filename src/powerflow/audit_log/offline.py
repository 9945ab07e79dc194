"""The offline verifier: checks an export of the audit log against signed checkpoints, with the
log's public key alone (no database).

Inputs: ``leaves.jsonl`` (leaf ``i`` is line ``i``, byte for byte; docs/audit.md, "The leaf"),
optionally ``leaf_hashes.txt`` (per exported leaf, ``<leaf index> <leaf hash hex>`` as the
database's tree holds it: used only to name a changed or deleted leaf), and checkpoints
(signed notes). It checks:

1. every checkpoint is signed by the log's key, its origin is the key's name, and (when
   witnesses are required) the newest is cosigned by each of them;
2. no two checkpoints of the same size have different roots (a forked log);
3. the tree recomputed from the export has, at each checkpoint's size, that checkpoint's root
   (so consecutive checkpoints are consistent too: both are prefixes of the same tree);
4. each leaf is a version-1 or -2 event whose per-instance chain holds: sequence numbers 1, 2, ...
   without a gap, each event's ``prev_hash`` its predecessor's ``hash``, each ``hash`` the
   SHA-256 of the predecessor's hash and the event's content; no event id twice.

The first problem found is named (the leaf, its event id, what is wrong).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from powerflow.audit_log import note
from powerflow.audit_log.chain import chained_content, event_hash
from powerflow.audit_log.checkpoint import Checkpoint, parse_body
from powerflow.audit_log.tree import CompactRange, leaf_hash


@dataclass
class Report:
    """What the verifier found."""

    leaves: int = 0
    checkpoints: int = 0
    verified_size: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def read_checkpoints(path: Path) -> list[str]:
    """Signed notes from a file: JSON lines with a ``note`` each (as exported), or one note."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return [str(orjson.loads(line)["note"]) for line in text.splitlines() if line.strip()]
    return [text]


def _chain_hash(prev: str | None, event: dict[str, Any]) -> str:
    return event_hash(prev, chained_content(event))


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        for line in f:
            yield line[:-1] if line.endswith(b"\n") else line


def verify(
    leaves_file: Path,
    checkpoint_notes: Sequence[str],
    public_key: note.Verifier,
    *,
    witnesses: Iterable[note.Verifier] = (),
    stored_hashes: Path | None = None,
) -> Report:
    """Verify an export against checkpoints; see the module's docstring."""
    report = Report()
    points = _checkpoints(checkpoint_notes, public_key, list(witnesses), report)
    if report.problems:
        return report
    by_size = {cp.size: cp for cp in points}
    sizes = sorted(by_size)
    stored = _lines(stored_hashes) if stored_hashes is not None else None
    tree = CompactRange()
    chains: dict[str, tuple[int, str]] = {}
    seen_ids: set[int] = set()
    pending = iter(sizes)
    next_size = next(pending, None)
    last_good = 0
    newest = by_size[sizes[-1]] if sizes else None
    newest_time = _signed_time(newest) if newest is not None else None
    if next_size == 0:
        _check_root(by_size[0], tree, report, last_good)
        next_size = next(pending, None)
    for index, line in enumerate(_lines(leaves_file)):
        h = leaf_hash(line)
        problem = _check_event(index, line, chains, seen_ids)
        kept = next(stored, None) if stored is not None else None
        if problem is None and kept is not None:
            problem = _check_stored(index, kept, h)
        if problem and not report.problems:
            report.problems.append(problem)
        if newest is not None and newest_time is not None and index >= newest.size:
            _check_backdated(index, line, newest.size, newest_time, report)
        tree.append(h)
        report.leaves += 1
        if next_size is not None and tree.size == next_size:
            if _check_root(by_size[next_size], tree, report, last_good):
                last_good = next_size
                report.verified_size = next_size
            next_size = next(pending, None)
    if next_size is not None:
        report.problems.append(
            f"the export holds {report.leaves} leaves, fewer than the checkpoint of "
            f"{sizes[-1]}: events of the signed log are missing"
        )
    return report


BACKDATED_SLACK = 300
"""Seconds an event may be dated before a checkpoint it is not in (in flight when signed)."""


def _signed_time(cp: Checkpoint) -> int | None:
    for line in cp.extensions:
        if line.startswith("time ") and line[5:].isdigit():
            return int(line[5:])
    return None


def _check_backdated(index: int, line: bytes, size: int, signed: int, report: Report) -> None:
    """Warn of an event after the newest checkpoint dated well before it was signed: a
    forger's way to add to the past (it cannot be placed inside a signed tree)."""
    if len(report.notes) >= 20:
        return
    try:
        at = datetime.fromisoformat(str(orjson.loads(line).get("occurred_at"))).timestamp()
    except (ValueError, AttributeError, orjson.JSONDecodeError):
        return
    if at < signed - BACKDATED_SLACK:
        report.notes.append(
            f"warning: leaf {index} is dated {int(signed - at)} s before the checkpoint of size "
            f"{size} was signed, yet comes after it: an event recorded late, or added to the "
            "past"
        )


def _check_stored(index: int, kept: bytes, h: bytes) -> str | None:
    """Compare with the ``<leaf index> <leaf hash hex>`` the database's tree holds."""
    parts = kept.decode(errors="replace").split()
    if len(parts) != 2 or not parts[0].isdigit():
        return f"line {index + 1} of the leaf hashes is not '<leaf index> <hex hash>'"
    if int(parts[0]) != index:
        return (
            f"leaf {index}: no event in the export, yet the log's tree holds one there: an "
            "event row was deleted (or an event was given the id of another)"
        )
    if parts[1] != h.hex():
        return (
            f"leaf {index}: the exported event does not hash to the leaf hash the log's tree "
            "holds: the event row was changed after it was appended"
        )
    return None


def _check_root(cp: Checkpoint, tree: CompactRange, report: Report, last_good: int) -> bool:
    if tree.root() == cp.root:
        return True
    if not any("does not match" in p for p in report.problems):
        report.problems.append(
            f"the tree of the first {cp.size} leaves does not match the signed checkpoint of "
            f"that size: a leaf among {last_good}..{cp.size - 1} was changed, inserted, deleted "
            "or moved after the checkpoint was signed"
        )
    return False


def _check_event(
    index: int, line: bytes, chains: dict[str, tuple[int, str]], seen: set[int]
) -> str | None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        return f"leaf {index}: not a JSON event"
    if not isinstance(event, dict) or event.get("v") not in (1, 2):
        return f"leaf {index}: not a version-1 or version-2 event leaf"
    ident, instance, seq = event.get("id"), event.get("instance_id"), event.get("seq")
    if not isinstance(ident, int) or not isinstance(instance, str) or not isinstance(seq, int):
        return f"leaf {index}: the event lacks its id, instance id or sequence number"
    where = f"leaf {index} (event {ident}, instance {instance} #{seq})"
    if ident in seen:
        return f"{where}: event id {ident} appears twice"
    seen.add(ident)
    last_seq, last_hash = chains.get(instance, (0, None))
    chains[instance] = (seq, str(event.get("hash")))
    if seq != last_seq + 1:
        return f"{where}: expected event #{last_seq + 1} of the instance, found #{seq}"
    if event.get("prev_hash") != last_hash:
        return f"{where}: its link to the instance's previous event does not match"
    if _chain_hash(last_hash, event) != event.get("hash"):
        return f"{where}: its content does not match its chain hash"
    return None


def _checkpoints(
    texts: Sequence[str],
    key: note.Verifier,
    witnesses: list[note.Verifier],
    report: Report,
) -> list[Checkpoint]:
    points: list[Checkpoint] = []
    notes: list[note.Note] = []
    for i, text in enumerate(texts):
        try:
            signed = note.parse(text)
            cp = parse_body(signed.text)
        except note.NoteError as exc:
            report.problems.append(f"checkpoint {i + 1}: cannot be read: {exc}")
            return []
        if not signed.signed_by(key):
            report.problems.append(
                f"checkpoint {i + 1} (size {cp.size}): not signed by the log's key {key.name}"
            )
            return []
        if cp.origin != key.name:
            report.problems.append(
                f"checkpoint {i + 1} (size {cp.size}): origin {cp.origin!r} is not the log's "
                f"key name {key.name!r}"
            )
            return []
        points.append(cp)
        notes.append(signed)
    report.checkpoints = len(points)
    roots: dict[int, bytes] = {}
    for cp in points:
        if roots.setdefault(cp.size, cp.root) != cp.root:
            report.problems.append(
                f"forked log: two checkpoints of size {cp.size} signed with different roots"
            )
            return []
    if witnesses:
        if not points:
            report.problems.append("no checkpoint to check the witnesses' cosignatures on")
            return []
        newest = max(range(len(points)), key=lambda i: points[i].size)
        for w in witnesses:
            if not notes[newest].signed_by(w):
                report.problems.append(
                    f"the newest checkpoint (size {points[newest].size}) is not cosigned by "
                    f"witness {w.name}"
                )
                return []
        report.notes.append(
            f"the newest checkpoint is cosigned by {', '.join(w.name for w in witnesses)}"
        )
    return points
