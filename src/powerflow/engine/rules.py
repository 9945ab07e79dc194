"""Negative-list rules as data: reading ``pf:rule``, checking a rule's shape, running ``require``.

A rule is a plain JSON dictionary (stored in the definition catalog, or as an API rule version):
``{"id", "kind", "effect", "level", "on", "elements", "legal_basis", "message", "params"}``.
``normalize`` is the one check of that shape, used for BPMN files (with the line of the
``pf:rule``) and for rules sent through the API. ``evaluate_require`` runs an ``expression``
rule's ``require`` in the same RestrictedPython sandbox as gateway conditions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import isodate
import orjson
from lxml import etree

from powerflow.engine.limits import acquire, release
from powerflow.engine.scripting import RESTRICTED_ENGINE, ScriptRejected, compile_script

RULE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
VARIABLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
LIST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# The evaluation order of kinds (design.md): separation of duties first, expressions last.
KINDS = (
    "separation-of-duties",
    "authority",
    "recusal",
    "required-before",
    "quorum",
    "speaking-order",
    "list",
    "cumulative",
    "reason-required",
    "expression",
)
EFFECTS = ("block", "warn", "record")
LEVELS = ("prompt", "yellow", "red")
ACTS = ("claim", "complete")
DEFAULT_LEVEL = {"block": "red", "warn": "yellow", "record": None}
DEFAULT_ON = {"separation-of-duties": ["claim", "complete"], "recusal": ["claim", "complete"]}
CALENDAR_YEAR = "calendar-year"
MAX_MESSAGE = 2000
# A cumulative window is at most a century, measured from a fixed day (months and years vary).
MAX_WINDOW = timedelta(days=36525)
_WINDOW_FROM = datetime(2000, 1, 1, tzinfo=UTC)

# BPMN attribute -> (param name, type); types: var, vars, str, bool, number, int, caps, ids, id
ATTRIBUTES: dict[str, dict[str, tuple[str, str]]] = {
    "separation-of-duties": {"tasks": ("tasks", "ids"), "starter": ("starter", "bool")},
    "authority": {"variable": ("variable", "var"), "caps": ("caps", "caps")},
    "recusal": {"variables": ("variables", "vars")},
    "required-before": {"before": ("before", "id"), "otherPerson": ("other_person", "bool")},
    "quorum": {
        "present": ("present", "var"),
        "members": ("members", "var"),
        "memberCount": ("member_count", "int"),
        "fraction": ("fraction", "fraction"),
    },
    "speaking-order": {"opinions": ("opinions", "var"), "principal": ("principal", "var")},
    "list": {"variable": ("variable", "var"), "list": ("list", "list")},
    "cumulative": {
        "variable": ("variable", "var"),
        "key": ("key", "vars"),
        "window": ("window", "window"),
        "threshold": ("threshold", "number"),
    },
    "reason-required": {
        "variable": ("variable", "var"),
        "values": ("values", "strs"),
        "reason": ("reason", "var"),
    },
    "expression": {"require": ("require", "expr")},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "separation-of-duties": ("tasks",),
    "authority": ("variable", "caps"),
    "recusal": ("variables",),
    "required-before": ("before",),
    "quorum": ("present",),
    "speaking-order": ("opinions", "principal"),
    "list": ("variable", "list"),
    "cumulative": ("variable", "key", "window", "threshold"),
    "reason-required": ("variable", "values", "reason"),
    "expression": ("require",),
}
COMMON_ATTRIBUTES = {"id", "kind", "effect", "level", "on", "elements", "legalBasis"}


class RuleInvalid(ValueError):
    """A rule whose shape or parameters are wrong; the message says what, for a person."""


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise RuleInvalid("must be a list of names (or names separated by commas)")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise RuleInvalid("must be a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise RuleInvalid(f"must be a number (found '{value}')") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleInvalid("must be a finite number")
    return float(value)


def _caps(value: Any) -> dict[str, float]:
    pairs: list[tuple[str, Any]]
    if isinstance(value, str):
        pairs = []
        for part in (p.strip() for p in value.split(";") if p.strip()):
            role, sep, amount = part.partition(":")
            if not sep:
                raise RuleInvalid(f"'{part}' is not role:amount (such as dept_head:10000)")
            pairs.append((role.strip(), amount))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise RuleInvalid('must be role:amount pairs such as "dept_head:10000;deputy:50000"')
    caps: dict[str, float] = {}
    for role, amount in pairs:
        if not isinstance(role, str) or not LIST_NAME.match(role):
            raise RuleInvalid(f"'{role}' is not a role name")
        caps[role] = _number(amount)
    if not caps:
        raise RuleInvalid("names no role")
    return caps


def _convert(kind: str, value: Any, *, bpmn: bool) -> Any:
    if kind == "var":
        if not isinstance(value, str) or not VARIABLE.match(value.strip()):
            raise RuleInvalid(f"'{value}' is not a variable name")
        return value.strip()
    if kind in ("vars", "ids", "strs"):
        names = _split(value)
        if not names:
            raise RuleInvalid("names nothing")
        if kind == "vars":
            for name in names:
                if not VARIABLE.match(name):
                    raise RuleInvalid(f"'{name}' is not a variable name")
        return list(dict.fromkeys(names))
    if kind in ("id", "list"):
        if not isinstance(value, str) or not value.strip():
            raise RuleInvalid("must not be empty")
        if kind == "list" and not LIST_NAME.match(value.strip()):
            raise RuleInvalid(f"'{value}' is not a list name (letters, digits, '.', '_', '-')")
        return value.strip()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if bpmn and value in ("true", "false"):
            return value == "true"
        raise RuleInvalid('must be "true" or "false"')
    if kind == "number":
        return _number(value)
    if kind == "int":
        number = _number(value)
        if number != int(number) or number < 1:
            raise RuleInvalid("must be a whole number, 1 or more")
        return int(number)
    if kind == "caps":
        return _caps(value)
    if kind == "fraction":
        try:
            fraction = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError, OverflowError):
            raise RuleInvalid(f"'{value}' is not a fraction such as 2/3") from None
        if not 0 < fraction <= 1:
            raise RuleInvalid("must be above 0 and at most 1")
        return str(value).strip()
    if kind == "window":
        text = str(value).strip()
        if text == CALENDAR_YEAR:
            return text
        try:
            duration = isodate.parse_duration(text)
        except (isodate.ISO8601Error, ValueError, OverflowError):
            raise RuleInvalid(
                f"'{text}' is not an ISO 8601 duration (such as P30D or P1Y) or calendar-year"
            ) from None
        try:
            end = _WINDOW_FROM + duration
        except (OverflowError, ValueError):
            end = _WINDOW_FROM + MAX_WINDOW + MAX_WINDOW
        if end <= _WINDOW_FROM:
            raise RuleInvalid("must be longer than zero (a negative window is none)")
        if end - _WINDOW_FROM > MAX_WINDOW:
            raise RuleInvalid("may be at most 100 years")
        return text
    if kind == "expr":
        if not isinstance(value, str) or not value.strip():
            raise RuleInvalid("must not be empty")
        try:
            compile_script(value.strip(), "eval")
        except ScriptRejected as exc:
            raise RuleInvalid(f"is not an allowed expression: {exc}") from None
        except ValueError:  # e.g. a NUL character
            raise RuleInvalid("is not an allowed expression: it holds a NUL character") from None
        return value.strip()
    raise AssertionError(kind)


def normalize(raw: dict[str, Any], *, bpmn: bool = False) -> dict[str, Any]:
    """A rule in its stored shape, or RuleInvalid saying the first thing wrong with it.

    ``raw`` holds ``id``, ``kind``, ``effect``, ``level``, ``on``, ``elements``, ``legal_basis``,
    ``message`` and ``params`` (snake_case). ``elements`` are checked against a process later.
    """
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise RuleInvalid(
            "A rule needs an id of letters, digits, '.', '_' or '-' (at most 100 characters)."
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        raise RuleInvalid(f"Rule {rule_id}: kind '{kind}' is not one of: {', '.join(KINDS)}.")
    effect = raw.get("effect") or "block"
    if effect not in EFFECTS:
        raise RuleInvalid(f"Rule {rule_id}: effect '{effect}' is not one of: block, warn, record.")
    level = raw.get("level") or None  # None: the process's alert profile decides (rule_levels)
    if level is not None and level not in LEVELS:
        raise RuleInvalid(f"Rule {rule_id}: level '{level}' is not one of: prompt, yellow, red.")
    on = raw.get("on") or DEFAULT_ON.get(kind, ["complete"])
    try:
        acts = _split(on)
    except RuleInvalid:
        acts = ["?"]
    if not acts or any(a not in ACTS for a in acts):
        raise RuleInvalid(f"Rule {rule_id}: 'on' must be claim, complete or claim,complete.")
    message = raw.get("message")
    if not isinstance(message, str) or not message.strip():
        raise RuleInvalid(
            f"Rule {rule_id} needs its sentence: what a clerk reads when the rule is broken."
        )
    if len(message) > MAX_MESSAGE:
        raise RuleInvalid(
            f"Rule {rule_id}: the sentence may have at most {MAX_MESSAGE} characters."
        )
    basis = raw.get("legal_basis") or []
    if isinstance(basis, str):
        basis = [basis]
    if not isinstance(basis, list) or not all(isinstance(b, str) for b in basis):
        raise RuleInvalid(f"Rule {rule_id}: legal_basis must be a list of texts.")
    try:
        elements = _split(raw.get("elements") or [])
    except RuleInvalid as exc:
        raise RuleInvalid(f"Rule {rule_id}: elements {exc}.") from None
    params_in = raw.get("params") or {}
    if not isinstance(params_in, dict):
        raise RuleInvalid(f"Rule {rule_id}: params must be an object.")
    types = dict(ATTRIBUTES[kind].values())
    unknown = sorted(set(params_in) - set(types))
    if unknown:
        raise RuleInvalid(
            f"Rule {rule_id} ({kind}) does not take {', '.join(unknown)}; it takes "
            f"{', '.join(sorted(types))}."
        )
    params: dict[str, Any] = {}
    for name, value in params_in.items():
        try:
            params[name] = _convert(types[name], value, bpmn=bpmn)
        except RuleInvalid as exc:
            raise RuleInvalid(f"Rule {rule_id} ({kind}): {name} {exc}.") from None
    missing = [name for name in REQUIRED[kind] if name not in params]
    if kind == "quorum" and "members" not in params and "member_count" not in params:
        missing.append("members or member_count")
    if missing:
        raise RuleInvalid(f"Rule {rule_id} ({kind}) needs {', '.join(missing)}.")
    if kind == "separation-of-duties" and len(params["tasks"]) < 2 and not params.get("starter"):
        raise RuleInvalid(
            f"Rule {rule_id} (separation-of-duties) names one task and not the starter: "
            "there is nothing to keep apart; name two tasks or set starter."
        )
    if kind == "quorum":
        params.setdefault("fraction", "2/3")
    return {
        "id": rule_id,
        "kind": kind,
        "effect": effect,
        "level": level,
        "on": [a for a in ACTS if a in acts],
        "elements": elements,
        "legal_basis": [b.strip() for b in basis if b.strip()],
        "message": message.strip(),
        "params": params,
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def from_element(el: etree._Element) -> dict[str, Any]:
    """The raw rule of a ``pf:rule`` element (attribute names in snake_case), not yet checked."""
    kind = el.get("kind")
    params: dict[str, Any] = {}
    known = ATTRIBUTES.get(kind or "", {})
    for attr, value in el.attrib.items():
        name = str(attr)
        if name in COMMON_ATTRIBUTES or "}" in name:
            continue
        if name in known:
            params[known[name][0]] = value
        else:
            params[_snake(name)] = value  # refused by normalize with the list of what it takes
    basis = el.get("legalBasis")
    return {
        "id": el.get("id"),
        "kind": kind,
        "effect": el.get("effect"),
        "level": el.get("level"),
        "on": el.get("on"),
        "elements": el.get("elements"),
        "legal_basis": [basis] if basis and basis.strip() else [],
        "message": (el.text or "").strip(),
        "params": params,
    }


def element_references(rule: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, element id) of every element a rule names: elements, tasks, before."""
    refs = [("elements", e) for e in rule["elements"]]
    params = rule["params"]
    refs += [("tasks", t) for t in params.get("tasks", [])]
    if "before" in params:
        refs.append(("before", params["before"]))
    return refs


def sandbox_copy(names: dict[str, Any]) -> dict[str, Any]:
    """A copy of plain-JSON names for expressions: nothing they do reaches the originals."""
    copied: dict[str, Any] = orjson.loads(orjson.dumps(names))
    return copied


def evaluate_require(source: str, names: dict[str, Any]) -> bool:
    """Whether an expression rule's ``require`` holds; raises what the expression raised.

    Runs in the gateway conditions' sandbox and budget; pass names from ``sandbox_copy``.
    """
    return bool(RESTRICTED_ENGINE.environment.evaluate(source, names))


@contextmanager
def one_budget() -> Iterator[None]:
    """Run several expressions under one CPU and memory budget (as one engine step's
    conditions do) instead of setting one up for each."""
    _, own = acquire()
    try:
        yield
    finally:
        if own:
            release()
