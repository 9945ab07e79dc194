"""Supervision: cases (督办) and accountability, a person's record, disclosure and public
notices, statistics (docs/supervision.md, docs/public.md)."""
