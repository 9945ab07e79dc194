"""The audit trail: each instance's hash chain (``chain``) and the Merkle log over every event
(``leaves``, ``sequencer``, ``checkpoints``, ``proofs``, ``export``; docs/audit.md)."""

from powerflow.services.audit.chain import (
    CSV_COLUMNS,
    AuditTrail,
    BrokenLink,
    Verification,
    as_csv,
    trail,
    verify_all,
)

__all__ = [
    "CSV_COLUMNS",
    "AuditTrail",
    "BrokenLink",
    "Verification",
    "as_csv",
    "trail",
    "verify_all",
]
