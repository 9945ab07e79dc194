"""Proof bundles of archived instances: an instance's events as leaves of the log, each with its
inclusion proof against one signed checkpoint, checked with the log's public key alone.

A bundle is a JSON object::

    {"format": "powerflow-archive-proofs/1", "instance_id": "...",
     "checkpoint": "<the signed note>",
     "events": [{"leaf_index": 17, "leaf": "<the leaf, docs/audit.md 'The leaf'>",
                 "proof": ["<hex>", ...]}, ...]}

``verify_bundle`` checks that the checkpoint is signed by the key and names the log, that every
leaf is an event of the instance and that together they form its whole chain (sequence numbers
from 1 without a gap, links, chain hashes), and that each leaf is in the signed tree at its
index (RFC 9162 2.1.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from powerflow.audit_log import note
from powerflow.audit_log.checkpoint import parse_body
from powerflow.audit_log.offline import _check_event
from powerflow.audit_log.tree import leaf_hash, verify_inclusion

FORMAT = "powerflow-archive-proofs/1"


@dataclass
class BundleReport:
    """What ``verify_bundle`` found."""

    events: int = 0
    tree_size: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def verify_bundle(bundle: dict[str, Any], key: note.Verifier) -> BundleReport:
    """Verify a proof bundle; the first problem found is named."""
    report = BundleReport()
    if bundle.get("format") != FORMAT:
        report.problems.append(f"not a {FORMAT} bundle")
        return report
    try:
        signed = note.parse(str(bundle.get("checkpoint")))
        cp = parse_body(signed.text)
    except note.NoteError as exc:
        report.problems.append(f"the checkpoint cannot be read: {exc}")
        return report
    if not signed.signed_by(key) or cp.origin != key.name:
        report.problems.append(f"the checkpoint is not signed by the log's key {key.name}")
        return report
    report.tree_size = cp.size
    instance = bundle.get("instance_id")
    chains: dict[str, tuple[int, str]] = {}
    seen: set[int] = set()
    for n, item in enumerate(bundle.get("events") or []):
        line = str(item.get("leaf", "")).encode()
        index = item.get("leaf_index")
        if not isinstance(index, int):
            report.problems.append(f"event {n + 1}: no leaf index")
            return report
        problem = _check_event(index, line, chains, seen)
        if problem is None and orjson.loads(line).get("instance_id") != instance:
            problem = f"leaf {index}: an event of another instance"
        if problem is None:
            try:
                proof = [bytes.fromhex(h) for h in item.get("proof") or []]
            except ValueError:
                proof = []
            if not verify_inclusion(leaf_hash(line), index, cp.size, proof, cp.root):
                problem = (
                    f"leaf {index}: not in the signed tree of {cp.size} leaves at that index "
                    "(the event was changed, or the proof is not of this tree)"
                )
        if problem is not None:
            report.problems.append(problem)
            return report
        report.events += 1
    if not report.events:
        report.problems.append("the bundle holds no event")
    return report
