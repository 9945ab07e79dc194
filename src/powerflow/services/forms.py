"""What data a person may submit: the fields the model declares, and nothing else.

A gateway, a script or a rule reads the instance data, so a field nobody declared must not reach
it. A human task accepts its form fields (``camunda:formData``) and the names its
``pf:acceptsData`` lists; ``POST /v1/instances`` accepts the start event's form fields and
``pf:acceptsData``. An element that declares neither falls back to the process's
``pf:acceptsData``; without that it accepts no data at all. ``fields="*"`` accepts any field
(for generic models). Declared form fields are type-checked; names accepted through
``pf:acceptsData`` only, any plain JSON value. docs/extensions.md §3.7 is the designer's guide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from powerflow.engine import OBJECTION_PAYLOAD
from powerflow.services.errors import InvalidInput

ANY_DATA = "*"


@dataclass(frozen=True)
class Accepted:
    """The data an element accepts: typed form fields, plus untyped names or any field."""

    form: list[dict[str, Any]]
    names: frozenset[str]
    any_field: bool

    @property
    def declared(self) -> list[str]:
        """Every declared field name, form fields first."""
        ids = [f["id"] for f in self.form]
        return ids + sorted(self.names.difference(ids))


def _accepted(form: list[dict[str, Any]], own: Any, process_default: Any) -> Accepted:
    rule = own if (form or own is not None) else process_default
    if rule == ANY_DATA:
        return Accepted(form, frozenset(), True)
    return Accepted(form, frozenset(rule or ()), False)


def task_accepts(catalog: dict[str, Any], element_id: str) -> Accepted:
    """What a human task accepts, from the definition's catalog."""
    element = catalog.get("elements", {}).get(element_id, {})
    return _accepted(
        element.get("form", []), element.get("accepts_data"), catalog.get("accepts_data")
    )


def start_accepts(catalog: dict[str, Any]) -> Accepted:
    """What the variables of a new instance may hold, from the definition's catalog."""
    start = catalog.get("start", {})
    return _accepted(start.get("form", []), start.get("accepts_data"), catalog.get("accepts_data"))


def check_task_data(
    catalog: dict[str, Any], element_id: str, data: dict[str, Any], current: dict[str, Any]
) -> None:
    """Refuse task data with undeclared fields, wrong types or missing required fields.

    A required field may be left out when the task's current data already holds a value for it
    (a form prefilled from earlier steps or start variables).
    """
    _check(task_accepts(catalog, element_id), data, current, what="task", catalog=catalog)


def missing_required(catalog: dict[str, Any], element_id: str, data: dict[str, Any]) -> bool:
    """Whether a required form field of the task is left out of ``data``: then the check needs
    the task's current data (a prefilled field may be omitted), which only the engine has."""
    form = catalog.get("elements", {}).get(element_id, {}).get("form", [])
    return any(f.get("required") and f["id"] not in data for f in form)


def check_start_variables(catalog: dict[str, Any], variables: dict[str, Any]) -> None:
    """Refuse start variables the start event's form (or the process) does not declare."""
    _check(start_accepts(catalog), variables, {}, what="start", catalog=catalog)


def takes_objections(catalog: dict[str, Any]) -> bool:
    """Whether a notice of the process takes objections (``pf:notice objectionMessage``): then
    ``OBJECTION_PAYLOAD`` is the name they arrive under, reserved (engine/reserved.py)."""
    return any(
        ((e.get("metadata") or {}).get("notice") or {}).get("objection_message")
        for e in catalog.get("elements", {}).values()
    )


def _check(
    accepted: Accepted,
    data: dict[str, Any],
    current: dict[str, Any],
    *,
    what: str,
    catalog: dict[str, Any],
) -> None:
    where = "the task's form" if what == "task" else "the process's start form"
    problems: list[str] = []
    if not accepted.any_field:
        declared = set(accepted.declared)
        for name in data:
            if name not in declared:
                problems.append(f"'{name}' is not a field of {where}.")
    elif OBJECTION_PAYLOAD in data and takes_objections(catalog):
        # the upload refuses the name as a declared field; "*" would let anyone submit it
        problems.append(
            f"'{OBJECTION_PAYLOAD}' is reserved in this process: an objection to its public "
            "notice arrives under that name, so it cannot be submitted as data; leave it out "
            "or use another name."
        )
    problems.extend(_form_problems(accepted.form, data, current))
    if not problems:
        return
    if accepted.declared or accepted.any_field:
        summary = f"The submitted data does not fit {where}"
        if accepted.declared and not accepted.any_field:
            summary += f" (its fields: {', '.join(accepted.declared)})"
    elif what == "task":
        summary = (
            "This task declares no form fields, so it accepts no data: submit {} or ask the "
            "process designer to declare the fields (camunda:formData or pf:acceptsData)"
        )
    else:
        summary = (
            "This process declares no start variables, so it accepts none: start it without "
            "variables or ask the process designer to declare them on the start event "
            "(camunda:formData or pf:acceptsData)"
        )
    raise InvalidInput(f"{summary}: " + " ".join(problems), fields=problems)


def _form_problems(
    form: list[dict[str, Any]], data: dict[str, Any], current: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    for field in form:
        fid, label, ftype = field["id"], field.get("label") or field["id"], field.get("type")
        if fid not in data:
            if field.get("required") and current.get(fid) is None:
                problems.append(f"'{label}' ({fid}) is required.")
            continue
        if field.get("readonly"):
            problems.append(f"'{label}' ({fid}) is read-only in this form; leave it out.")
            continue
        value = data[fid]
        if value is None:
            if field.get("required"):
                problems.append(f"'{label}' ({fid}) is required.")
            continue
        reason = _type_problem(ftype, value, field) or _limit_problem(value, field)
        if reason:
            problems.append(f"'{label}' ({fid}) {reason}")
    return problems


def _limit_problem(value: Any, field: dict[str, Any]) -> str | None:
    """Camunda's min/max (for numbers) and minlength/maxlength (for text) constraints."""
    limits: dict[str, float] = field.get("limits") or {}
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "min" in limits and value < limits["min"]:
            return f"must be at least {_number(limits['min'])}."
        if "max" in limits and value > limits["max"]:
            return f"must be at most {_number(limits['max'])}."
    if isinstance(value, str):
        if "minlength" in limits and len(value) < limits["minlength"]:
            return f"must be at least {_number(limits['minlength'])} characters long."
        if "maxlength" in limits and len(value) > limits["maxlength"]:
            return f"must be at most {_number(limits['maxlength'])} characters long."
    return None


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


def _type_problem(ftype: str | None, value: Any, field: dict[str, Any]) -> str | None:
    if ftype == "long" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be a whole number."
    if ftype == "boolean" and not isinstance(value, bool):
        return "must be true or false."
    if ftype in ("string", "textarea") and not isinstance(value, str):
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
