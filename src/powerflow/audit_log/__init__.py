"""A transparency log, pure: RFC 6962 / RFC 9162 Merkle tree hashing and proofs, C2SP
checkpoints and signed notes.

No database, no SpiffWorkflow, no powerflow settings: this package is what the offline verifier
and outside auditors use, and it can be copied out of powerflow on its own (it needs only the
standard library and, for signatures, ``cryptography``).
"""

from powerflow.audit_log.tree import (
    EMPTY_ROOT,
    CompactRange,
    NodeSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "NodeSource",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]
