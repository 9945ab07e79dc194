"""Domain errors raised by services; the HTTP layer maps each to one status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: carries a sentence for a person and optional structured detail."""

    code = "error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Unauthenticated(DomainError):
    """No credentials, or credentials that match no active user."""

    code = "unauthenticated"


class Forbidden(DomainError):
    """The caller is known but lacks the role for this action."""

    code = "forbidden"


class RuleViolated(Forbidden):
    """A negative-list rule refuses the act; ``detail`` names the rule, its version, sentence
    and legal basis, and every blocking violation. ``blocked`` carries what the policy records
    once the act has rolled back (services/power/policy.py)."""

    code = "rule_violated"
    blocked: Any = None


class NotFound(DomainError):
    """The addressed resource does not exist (or the caller may not know it exists)."""

    code = "not_found"


class Gone(DomainError):
    """The addressed instance or task was archived: it is read elsewhere, and read-only."""

    code = "archived"


class Conflict(DomainError):
    """The resource is not in a state that allows the action (or a concurrent change won)."""

    code = "conflict"


class RateLimited(DomainError):
    """Too many requests from one client address; ``detail['retry_after']`` in seconds."""

    code = "rate_limited"


class InvalidInput(DomainError):
    """The request is well-formed but its content is not acceptable."""

    code = "invalid_input"


class InvalidDefinition(InvalidInput):
    """An uploaded BPMN file with problems; ``detail['problems']`` lists them."""

    code = "invalid_definition"


class PayloadTooLarge(DomainError):
    """The request body exceeds the configured limit."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    """The request body is in a format this route does not take."""

    code = "unsupported_media_type"


class Busy(DomainError):
    """The database is locked by other writers; retry shortly."""

    code = "busy"
