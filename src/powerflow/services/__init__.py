"""Use cases: each service function owns its transaction and enforces the rules before writing."""
