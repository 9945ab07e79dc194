"""What each kind of rule checks, over the facts of one act (gathered only when asked for).

Each check returns None when the rule holds, or the evidence of the violation (a small JSON
object saying what was found). The order in which rules run is policy.py's business.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import isodate
import orjson
from sqlalchemy import Connection, and_, bindparam, func, or_, select

from powerflow.db.advisory import lock_keys
from powerflow.db.models import RuleLedger, Task
from powerflow.db.queries import InstanceRow, PreparedRows
from powerflow.engine.rules import CALENDAR_YEAR, evaluate_require, sandbox_copy
from powerflow.services.auth import Principal
from powerflow.services.power.declarations import active_counterparties, normalized
from powerflow.services.power.lists import listed
from powerflow.services.power.rules import Rule
from powerflow.services.supervision.notices import notice_period

DEFAULT_TIME_ZONE = "Asia/Shanghai"
_LEDGER_START = datetime(1900, 1, 1, tzinfo=UTC)
_HISTORY = PreparedRows(
    select(Task.element_id, Task.state, Task.completed_by, Task.assignee).where(
        Task.instance_id == bindparam("instance_id")
    )
)
_LEDGER_SUM = PreparedRows(
    select(func.sum(RuleLedger.amount)).where(
        RuleLedger.rule_id == bindparam("rule_id"),
        RuleLedger.definition_key == bindparam("definition_key"),
        RuleLedger.key_hash == bindparam("key_hash"),
        RuleLedger.occurred_at >= bindparam("since"),
        RuleLedger.instance_id != bindparam("instance_id"),  # its own row is replaced
    ),
    decode=False,  # a float or Decimal from the driver, None for no rows
)


_LEDGER_SUMS: dict[int, PreparedRows] = {}


def _ledger_sums(count: int) -> PreparedRows:
    """One statement summing ``count`` (rule, key, window) triples of one process."""
    found = _LEDGER_SUMS.get(count)
    if found is None:
        ledger = RuleLedger.__table__.c
        terms = [
            and_(
                ledger.rule_id == bindparam(f"r{i}"),
                ledger.key_hash == bindparam(f"k{i}"),
                ledger.occurred_at >= bindparam(f"s{i}", type_=ledger.occurred_at.type),
            )
            for i in range(count)
        ]
        statement = (
            select(ledger.rule_id, ledger.key_hash, func.sum(ledger.amount))
            .where(
                ledger.definition_key == bindparam("definition_key"),
                ledger.instance_id != bindparam("instance_id"),  # its own row is replaced
                or_(*terms),
            )
            .group_by(ledger.rule_id, ledger.key_hash)
        )
        found = _LEDGER_SUMS.setdefault(count, PreparedRows(statement, decode=False))
    return found


@dataclass
class Facts:
    """Everything a rule may look at for one act; each costly fact is read on first use."""

    conn: Connection
    act: str
    actor: Principal
    element_id: str
    task_id: str
    load_instance: Callable[[], InstanceRow]
    submitted: dict[str, Any]
    now: datetime
    time_zone: str = DEFAULT_TIME_ZONE

    @cached_property
    def instance(self) -> InstanceRow:
        """The instance acted on (loaded once)."""
        return self.load_instance()

    @cached_property
    def data(self) -> dict[str, Any]:
        """Instance data with the submitted data over it."""
        return {**(self.instance.data or {}), **self.submitted}

    @cached_property
    def history(self) -> list[dict[str, Any]]:
        """Who did what in this instance, from its task rows: completions and held claims."""
        out: list[dict[str, Any]] = []
        rows = _HISTORY.all(self.conn, {"instance_id": self.instance.id})
        for element_id, state, completed_by, assignee in rows:
            if state == "completed" and completed_by:
                out.append({"element_id": element_id, "actor": completed_by, "act": "completed"})
            elif state == "ready" and assignee:
                out.append({"element_id": element_id, "actor": assignee, "act": "claimed"})
        return out

    @cached_property
    def declarations(self) -> dict[str, str]:
        """The actor's active declarations: normalized counterparty -> as declared."""
        return active_counterparties(self.conn, self.actor.name)

    def ledger_sum(self, rule: Rule, key_hash: str, since: datetime) -> float:
        """What a cumulative rule has summed so far for this key since a time."""
        prefetched = self._ledger.get((rule.id, key_hash))
        if prefetched is not None:
            return prefetched
        params = {
            "rule_id": rule.id,
            "definition_key": self.instance.definition_key,
            "key_hash": key_hash,
            "since": since,
            "instance_id": self.instance.id,
        }
        rows = _LEDGER_SUM.all(self.conn, params)
        return float(rows[0][0] or 0.0) if rows else 0.0

    def sandbox_names(self, source: str) -> dict[str, Any]:
        """The names an expression sees: a copy, so nothing it does reaches the instance.

        ``history`` costs a statement: it is read only for an expression that names it.
        """
        wants_history = "history" in source
        cached = self._sandboxes.get(wants_history)
        if cached is None:
            names: dict[str, Any] = {
                "data": self.data,
                "actor": self.actor.name,
                "actor_roles": sorted(self.actor.roles),
                "starter": self.instance.started_by,
            }
            if wants_history:
                names["history"] = self.history
            cached = self._sandboxes[wants_history] = sandbox_copy(names)
        return cached

    @cached_property
    def _sandboxes(self) -> dict[bool, dict[str, Any]]:
        return {}

    @cached_property
    def _ledger(self) -> dict[tuple[str, str], float]:
        return {}

    def prefetch_ledger(self, rules: list[Rule]) -> None:
        """The sums of several cumulative rules of one act in one statement (not one each).

        A completion first locks each (rule, key) it will write a ledger row for (PostgreSQL),
        so a concurrent completion of another instance reads the sum only after this commits.
        """
        wanted: list[tuple[Rule, str, datetime]] = []
        for rule in rules:
            keyed = cumulative_key(rule, self)
            if keyed is not None:
                wanted.append((rule, keyed[0], window_start(rule, self)))
        if self.act == "complete" and wanted:
            definition_key = self.instance.definition_key
            lock_keys(self.conn, [(r.id, definition_key, k) for r, k, _ in wanted])
        if len(wanted) < 2:
            return
        params: dict[str, Any] = {
            "definition_key": self.instance.definition_key,
            "instance_id": self.instance.id,
        }
        for i, (rule, key_hash, since) in enumerate(wanted):
            params.update({f"r{i}": rule.id, f"k{i}": key_hash, f"s{i}": since})
            self._ledger[(rule.id, key_hash)] = 0.0
        for rule_id, key_hash, total in _ledger_sums(len(wanted)).all(self.conn, params):
            self._ledger[(rule_id, key_hash)] = float(total or 0.0)

    @cached_property
    def keys(self) -> dict[str, tuple[str, list[Any]] | None]:
        """Cumulative rules' key hashes, by rule id (computed once per act)."""
        return {}


@lru_cache(maxsize=256)
def _fraction(text: str) -> Fraction:
    return Fraction(text)


@lru_cache(maxsize=256)
def _duration(text: str) -> Any:
    return isodate.parse_duration(text)


def number(value: Any) -> float | None:
    """A finite number from data (numbers, or text holding one); None if it is not one
    ("NaN" and "inf" are not: they would pass every comparison or poison every sum)."""
    if isinstance(value, bool) or value is None:
        return None
    found: float
    if isinstance(value, int | float):
        try:
            found = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    elif isinstance(value, str):
        try:
            found = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return found if math.isfinite(found) else None


def _count(value: Any) -> float | None:
    if isinstance(value, list | tuple):
        return float(len(value))
    return number(value)


def _texts(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v) for v in items if isinstance(v, str | int | float) and not isinstance(v, bool)]


def separation_of_duties(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R11: the actor did (or holds) another of the named tasks, or started the instance."""
    me = facts.actor.name
    if rule.params.get("starter") and facts.instance.started_by == me:
        return {"started_instance": True}
    others = [t for t in rule.params["tasks"] if t != facts.element_id]
    for entry in facts.history:
        if entry["actor"] == me and entry["element_id"] in others:
            return {"task": entry["element_id"], "act": entry["act"]}
    return None


def authority(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R10: the amount exceeds the highest cap among the actor's roles (no role: cap 0)."""
    raw = facts.data.get(rule.params["variable"])
    if raw is None:
        return None  # not known yet: nothing to compare
    amount = number(raw)
    if amount is None:  # present but no finite number: refused rather than let through
        return {"amount": str(raw)[:100], "not_a_number": True}
    caps = {r: c for r, c in rule.params["caps"].items() if r in facts.actor.roles}
    cap = max(caps.values()) if caps else 0.0
    if amount > cap:
        return {"amount": amount, "cap": cap, "roles": sorted(caps)}
    return None


def recusal(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R12: a counterparty variable names someone the actor declared a relationship with."""
    values = [(name, v) for name in rule.params["variables"] for v in _texts(facts.data.get(name))]
    if not values:
        return None
    declared = facts.declarations
    for name, value in values:
        if normalized(value) in declared:
            return {"variable": name, "counterparty": declared[normalized(value)]}
    return None


def required_before(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R08/R19/R25: the prerequisite task was not completed (by someone else, optionally)."""
    before = rule.params["before"]
    done_by = [
        h["actor"] for h in facts.history if h["element_id"] == before and h["act"] == "completed"
    ]
    if not done_by:
        return {"missing": before}
    if rule.params.get("other_person") and all(a == facts.actor.name for a in done_by):
        return {"missing": before, "only_by_actor": True}
    return None


def quorum(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R14: attendance below the fraction of members (not applicable while nobody recorded
    attendance: the ``present`` variable is absent)."""
    if facts.data.get(rule.params["present"]) is None:
        return None
    present = _count(facts.data.get(rule.params["present"]))
    if "member_count" in rule.params:
        members: float | None = float(rule.params["member_count"])
    else:
        members = _count(facts.data.get(rule.params["members"]))
    fraction = _fraction(rule.params["fraction"])
    if present is None or members is None:
        return {"present": present, "members": members, "fraction": rule.params["fraction"]}
    if present * fraction.denominator < fraction.numerator * members:
        return {"present": present, "members": members, "fraction": rule.params["fraction"]}
    return None


def speaking_order(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R16: the principal's opinion is missing or not the last one (not applicable while no
    opinion is recorded: the ``opinions`` variable is absent)."""
    principal = facts.data.get(rule.params["principal"])
    opinions = facts.data.get(rule.params["opinions"])
    if opinions is None:
        return None
    speakers = []
    for item in opinions if isinstance(opinions, list) else []:
        who = item.get("member") if isinstance(item, dict) else item
        speakers.append(normalized(str(who)) if who is not None else "")
    if not isinstance(principal, str) or not principal.strip():
        return {"principal": None, "speakers": len(speakers)}
    me = normalized(principal)
    if me not in speakers:
        return {"principal": principal, "spoke": False}
    if speakers[-1] != me:
        return {"principal": principal, "spoke": True, "last": False}
    return None


def on_list(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R18: the variable's value is an active entry of the named list."""
    value = facts.data.get(rule.params["variable"])
    found = listed(facts.conn, rule.params["list"], _texts(value))
    if found is not None:
        return {"value": found, "list": rule.params["list"]}
    return None


def cumulative_key(rule: Rule, facts: Facts) -> tuple[str, list[Any]] | None:
    """The hash of the key values of this act (None if the amount is not a number)."""
    if rule.id not in facts.keys:
        facts.keys[rule.id] = _key(rule, facts)
    return facts.keys[rule.id]


def _key(rule: Rule, facts: Facts) -> tuple[str, list[Any]] | None:
    if number(facts.data.get(rule.params["variable"])) is None:
        return None
    values = [
        normalized(str(facts.data.get(k))) if facts.data.get(k) is not None else None
        for k in rule.params["key"]
    ]
    return hashlib.sha256(orjson.dumps(values)).hexdigest(), values


def window_start(rule: Rule, facts: Facts) -> datetime:
    """Where a cumulative rule's window begins, seen from now."""
    window = rule.params["window"]
    if window == CALENDAR_YEAR:
        local = facts.now.astimezone(ZoneInfo(facts.time_zone))
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return start.astimezone(facts.now.tzinfo)
    try:
        result: datetime = facts.now - _duration(window)
    except (OverflowError, ValueError):  # a window reaching before year 1: all of the ledger
        return _LEDGER_START.astimezone(facts.now.tzinfo)
    return result


def cumulative(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R13: the sum over the window, with this act, reaches the threshold."""
    keyed = cumulative_key(rule, facts)
    if keyed is None:
        raw = facts.data.get(rule.params["variable"])
        if raw is None:
            return None
        return {"amount": str(raw)[:100], "not_a_number": True}  # fail closed
    key_hash, values = keyed
    amount = number(facts.data.get(rule.params["variable"])) or 0.0
    before = facts.ledger_sum(rule, key_hash, window_start(rule, facts))
    total = before + amount
    if total >= rule.params["threshold"]:
        return {
            "key": dict(zip(rule.params["key"], values, strict=True)),
            "sum_before": before,
            "amount": amount,
            "total": total,
            "threshold": rule.params["threshold"],
            "window": rule.params["window"],
        }
    return None


def reason_required(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """R05: an outcome such as rejected needs a non-empty reason."""
    value = facts.data.get(rule.params["variable"])
    if value is None:
        return None
    shown = str(value).lower() if isinstance(value, bool) else str(value)
    if normalized(shown) not in {normalized(v) for v in rule.params["values"]}:
        return None
    reason = facts.data.get(rule.params["reason"])
    if isinstance(reason, str) and reason.strip():
        return None
    return {"value": value, "reason": rule.params["reason"]}


def expression(rule: Rule, facts: Facts) -> dict[str, Any] | None:
    """Any: the designer's ``require`` expression is false (or cannot be evaluated)."""
    try:
        if evaluate_require(rule.params["require"], facts.sandbox_names(rule.params["require"])):
            return None
    except Exception as exc:  # a rule that cannot be evaluated does not let the act through
        return {"require": rule.params["require"], "error": str(exc)[:300]}
    return {"require": rule.params["require"]}


CHECKS: dict[str, Callable[[Rule, Facts], dict[str, Any] | None]] = {
    "separation-of-duties": separation_of_duties,
    "authority": authority,
    "recusal": recusal,
    "required-before": required_before,
    "quorum": quorum,
    "speaking-order": speaking_order,
    "list": on_list,
    "cumulative": cumulative,
    "reason-required": reason_required,
    "expression": expression,
    "notice-period": notice_period,  # R17, built in (services/supervision/notices.py)
}
