"""Checking submitted task data against the task's declared form (camunda:formData)."""

from __future__ import annotations

from datetime import date
from typing import Any

from powerflow.services.errors import InvalidInput


def check_form(form: list[dict[str, Any]], data: dict[str, Any], current: dict[str, Any]) -> None:
    """Reject data whose declared fields are of the wrong type, or missing when required.

    A required field may be left out when the task's current data already holds a value for it
    (a form prefilled from earlier steps or start variables).
    """
    problems: list[str] = []
    for field in form:
        fid, label, ftype = field["id"], field.get("label") or field["id"], field.get("type")
        if fid not in data:
            if field.get("required") and current.get(fid) is None:
                problems.append(f"'{label}' ({fid}) is required.")
            continue
        value = data[fid]
        if value is None:
            if field.get("required"):
                problems.append(f"'{label}' ({fid}) is required.")
            continue
        reason = _type_problem(ftype, value, field)
        if reason:
            problems.append(f"'{label}' ({fid}) {reason}")
    if problems:
        raise InvalidInput(
            "The submitted data does not fit the task's form: " + " ".join(problems),
            fields=problems,
        )


def _type_problem(ftype: str | None, value: Any, field: dict[str, Any]) -> str | None:
    if ftype == "long" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be a whole number."
    if ftype == "boolean" and not isinstance(value, bool):
        return "must be true or false."
    if ftype == "string" and not isinstance(value, str):
        return "must be text."
    if ftype == "date":
        if not isinstance(value, str):
            return "must be a date such as 2026-01-31."
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            return "must be a date such as 2026-01-31."
    if ftype == "enum":
        allowed = [o["id"] for o in field.get("options", [])]
        if value not in allowed:
            return f"must be one of: {', '.join(allowed)}."
    return None
