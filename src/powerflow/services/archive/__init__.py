"""Archive and retention: ended instances past the retention period leave the live tables for
the archive tables, once the audit log holds and a signed checkpoint covers every event of
theirs (``mover``); archived instances are read (``reads``), proved (``proofs``) and verified
(``verify``) from there. docs/audit.md, "Archive and retention"."""
