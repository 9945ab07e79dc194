"""Supervision: cases (督办) and accountability, a person's record (docs/supervision.md)."""
