"""Supervision: what monitors do with what the power layer sees (statistics; cases and
disclosure to come)."""
