"""The one policy point of claim and completion: every applicable rule, in a fixed order.

``check`` runs inside the act's write transaction, after the role and state checks and before
the engine runs (completion) or the assignee is written (claim). With no rule guarding the act
it returns None at the cost of a dictionary lookup. Otherwise every rule is evaluated and the
violations collected:

- any ``block`` violation raises RuleViolated (403): the act's transaction rolls back, and the
  caller then calls ``record_blocked``, which writes the violations, their ``violation.blocked``
  events and alerts in a transaction of their own;
- ``warn`` and ``record`` violations come back in an Outcome, which the caller writes with
  ``record`` in the act's own transaction (with the ``cumulative`` rules' ledger rows).

A completion is first checked against its element's risk point (services/power/risk.py): a
missing reasoned comment is refused (InvalidInput, 422) before any rule runs, and a
countersignature requirement comes back in the Outcome (``countersign``: the role), so that the
caller stores the completion for a second person instead of running the engine; its ledger rows
are then held until the countersignature (``held_ledger``, ``write_ledger``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, insert

from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import RuleLedger, Violation
from powerflow.db.queries import InstanceRow
from powerflow.engine import StepEvent
from powerflow.engine.rules import DEFAULT_LEVEL, one_budget
from powerflow.services.auth import Principal
from powerflow.services.errors import RuleViolated
from powerflow.services.events import event_rows
from powerflow.services.power.alerts import AlertSpec, has_open_alert, open_alert
from powerflow.services.power.checks import (
    CHECKS,
    DEFAULT_TIME_ZONE,
    Facts,
    cumulative_key,
    number,
)
from powerflow.services.power.profiles import profile_for
from powerflow.services.power.risk import check_completion
from powerflow.services.power.rules import Rule, applicable
from powerflow.services.views import DefinitionView

log = logging.getLogger(__name__)
_LEDGER = cast(Table, RuleLedger.__table__)
_INSERT_LEDGER = queries.Prepared(
    insert(_LEDGER).values({c.name: bindparam(c.name) for c in _LEDGER.c if c.name != "id"})
)
# One ledger row per (rule, instance): a guarded task done again replaces its amount.
_DELETE_LEDGER = queries.Prepared(
    delete(_LEDGER).where(
        _LEDGER.c.rule_id == bindparam("rule_id"),
        _LEDGER.c.definition_key == bindparam("definition_key"),
        _LEDGER.c.instance_id == bindparam("instance_id"),
    )
)


@dataclass(frozen=True)
class Found:
    """One broken rule and what showed it."""

    rule: Rule
    evidence: dict[str, Any]


@dataclass
class Outcome:
    """What an allowed act must record: its warn/record violations and ledger rows."""

    act: str
    actor: str
    task_id: str
    task_name: str
    element_id: str
    roles: list[str]
    found: list[Found] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    alert_profile: str | None = None
    countersign: str | None = None  # the role that must countersign this completion


@dataclass
class Blocked:
    """A refused act: what ``record_blocked`` writes after the act rolled back."""

    outcome: Outcome
    instance_id: str


def _time_zone(store: Store) -> str:
    return str(getattr(store, "time_zone", None) or DEFAULT_TIME_ZONE)


def check(
    store: Store,
    conn: Connection,
    *,
    act: str,
    principal: Principal,
    definition: DefinitionView,
    task: Any,
    load_instance: Callable[[], InstanceRow],
    submitted: dict[str, Any] | None = None,
    comment: str | None = None,
) -> Outcome | None:
    """Evaluate the risk point and the rules guarding this act; None when nothing needs
    recording or doing.

    Raises InvalidInput when a completion lacks the reasoned comment its risk point requires,
    RuleViolated when a ``block`` rule is broken (the caller lets it roll the act back and then
    calls ``record_blocked``).
    """
    countersign = None
    if act == "complete":
        countersign = check_completion(definition, task.element_id, task.name, comment)
    rules = applicable(store, conn, definition, task.element_id, act)
    if act == "complete" and task.assignee is None:
        rules = _with_claim_rules(
            rules, applicable(store, conn, definition, task.element_id, "claim")
        )
    if not rules:
        if countersign is None:
            return None
        return Outcome(
            act,
            principal.name,
            task.id,
            task.name,
            task.element_id,
            list(task.roles),
            countersign=countersign,
        )
    facts = Facts(
        conn=conn,
        act=act,
        actor=principal,
        element_id=task.element_id,
        task_id=task.id,
        load_instance=load_instance,
        submitted=submitted or {},
        now=store.now(),
        time_zone=_time_zone(store),
    )
    outcome = Outcome(act, principal.name, task.id, task.name, task.element_id, list(task.roles))
    outcome.alert_profile = definition.catalog.get("process", {}).get("alert_profile")
    outcome.countersign = countersign
    with one_budget():
        _evaluate(rules, facts, outcome)
    blocking = [f for f in outcome.found if f.rule.effect == "block"]
    if blocking:
        outcome.found = blocking
        outcome.ledger = []
        raise _refusal(outcome, facts.instance.id)
    if not outcome.found and not outcome.ledger and countersign is None:
        return None
    return outcome


PERSONAL_KINDS = ("separation-of-duties", "recusal")
"""The rule kinds about who acts: they hold a countersigner to them as well."""


def check_countersigner(
    store: Store,
    conn: Connection,
    *,
    principal: Principal,
    definition: DefinitionView,
    task: Any,
    instance: InstanceRow,
    submitted: dict[str, Any],
) -> Outcome | None:
    """The rules about who acts (separation of duties, recusal) guarding the task's completion,
    with the countersigner as actor and the stored data: a countersignature takes part in the
    completion, so it may not pass by them. Raises RuleViolated on a ``block`` violation; the
    warn/record ones come back for ``record``."""
    rules = _with_claim_rules(
        applicable(store, conn, definition, task.element_id, "complete"),
        applicable(store, conn, definition, task.element_id, "claim"),
    )
    rules = [r for r in rules if r.kind in PERSONAL_KINDS]
    if not rules:
        return None
    facts = Facts(
        conn=conn,
        act="complete",
        actor=principal,
        element_id=task.element_id,
        task_id=task.id,
        load_instance=lambda: instance,
        submitted=submitted,
        now=store.now(),
        time_zone=_time_zone(store),
    )
    outcome = Outcome(
        "complete", principal.name, task.id, task.name, task.element_id, list(task.roles)
    )
    outcome.alert_profile = definition.catalog.get("process", {}).get("alert_profile")
    with one_budget():
        _evaluate(rules, facts, outcome)
    outcome.ledger = []
    blocking = [f for f in outcome.found if f.rule.effect == "block"]
    if blocking:
        outcome.found = blocking
        raise _refusal(outcome, instance.id)
    return outcome if outcome.found else None


def _with_claim_rules(complete: list[Rule], claim: list[Rule]) -> list[Rule]:
    """A completion of a task nobody claimed is checked by its claim rules too: otherwise
    completing without claiming would pass by a rule that guards only the claim."""
    if not claim:
        return complete
    extra = [r for r in claim if r not in complete]
    return sorted([*complete, *extra], key=lambda r: r.order) if extra else complete


def _evaluate(rules: list[Rule], facts: Facts, outcome: Outcome) -> None:
    """Every rule in order: what each found, and the ledger rows a completion adds."""
    facts.prefetch_ledger([r for r in rules if r.kind == "cumulative"])
    for rule in rules:
        evidence = CHECKS[rule.kind](rule, facts)
        if evidence is not None:
            outcome.found.append(Found(rule, evidence))
        if rule.kind == "cumulative" and facts.act == "complete" and "complete" in rule.on:
            keyed = cumulative_key(rule, facts)
            if keyed is not None:
                outcome.ledger.append(
                    {
                        "rule_id": rule.id,
                        "definition_key": facts.instance.definition_key,
                        "key_hash": keyed[0],
                        "instance_id": facts.instance.id,
                        "amount": number(facts.data.get(rule.params["variable"])) or 0.0,
                        "occurred_at": facts.now,
                    }
                )


def _described(found: Found) -> dict[str, Any]:
    rule = found.rule
    return {
        "rule_id": rule.id,
        "rule_version": rule.version,
        "source": rule.source,
        "kind": rule.kind,
        "message": rule.message,
        "legal_basis": list(rule.legal_basis),
        "evidence": found.evidence,
    }


def _refusal(outcome: Outcome, instance_id: str) -> RuleViolated:
    first = outcome.found[0].rule
    basis = "; ".join(first.legal_basis)
    detail = f"{first.message} (rule {first.id}" + (f"; {basis})" if basis else ")")
    exc = RuleViolated(detail)
    exc.detail = {
        "rule_id": first.id,
        "rule_version": first.version,
        "message": first.message,
        "legal_basis": list(first.legal_basis),
        "violations": [_described(f) for f in outcome.found],
    }
    exc.blocked = Blocked(outcome, instance_id)
    return exc


def record(
    conn: Connection,
    instance: InstanceRow,
    outcome: Outcome | None,
    *,
    at: datetime,
    hold_ledger: bool = False,
) -> None:
    """Write an allowed act's violations (``violation.recorded``, alerts) and ledger rows.

    Appends the events to the instance's chain; the caller saves the instance in the same
    transaction (its step or claim event follows these). With ``hold_ledger`` (a completion
    waiting for a countersignature) the ledger rows are left to ``write_ledger``.
    """
    if outcome is None:
        return
    if outcome.ledger and not hold_ledger:
        write_ledger(conn, outcome.ledger)
    if outcome.found:
        events = _violations(conn, instance, outcome, "violation.recorded", at)
        queries.insert_events(
            conn, event_rows(instance, events, conn=conn, actor=outcome.actor, at=at)
        )


def write_ledger(conn: Connection, ledger: list[dict[str, Any]]) -> None:
    """Replace the cumulative rules' ledger rows of these (rule, instance) pairs."""
    if not ledger:
        return
    _DELETE_LEDGER.execute(
        conn,
        [{k: row[k] for k in ("rule_id", "definition_key", "instance_id")} for row in ledger],
    )
    _INSERT_LEDGER.execute(conn, ledger)


def held_ledger(outcome: Outcome | None) -> list[dict[str, Any]]:
    """The ledger rows of a completion that waits for a countersignature, as JSON (the time is
    set again when it is countersigned: the amount counts from the completion that happens)."""
    if outcome is None:
        return []
    return [{k: v for k, v in row.items() if k != "occurred_at"} for row in outcome.ledger]


def released_ledger(held: list[dict[str, Any]], *, at: datetime) -> list[dict[str, Any]]:
    """Held ledger rows, dated when the countersigned completion happens."""
    return [{**row, "occurred_at": at} for row in held]


def _violations(
    conn: Connection, instance: InstanceRow, outcome: Outcome, event_type: str, at: datetime
) -> list[StepEvent]:
    events: list[StepEvent] = []
    for found in outcome.found:
        rule = found.rule
        level = alert_level(conn, rule, outcome.alert_profile)
        violation_id = conn.execute(
            insert(Violation).returning(Violation.id),
            {
                "rule_id": rule.id,
                "rule_version": rule.version,
                "rule_source": rule.source,
                "kind": rule.kind,
                "effect": rule.effect,
                "level": level,
                "act": outcome.act,
                "message": rule.message,
                "legal_basis": list(rule.legal_basis),
                "evidence": found.evidence,
                "instance_id": instance.id,
                "definition_key": instance.definition_key,
                "definition_version": instance.definition_version,
                "task_id": outcome.task_id,
                "element_id": outcome.element_id,
                "actor": outcome.actor,
                "occurred_at": at,
            },
        ).scalar_one()
        events.append(
            StepEvent(
                event_type,
                outcome.element_id,
                outcome.task_name,
                outcome.task_id,
                {
                    "violation_id": int(violation_id),
                    "rule_id": rule.id,
                    "rule_version": rule.version,
                    "effect": rule.effect,
                    "act": outcome.act,
                    "message": rule.message,
                    "legal_basis": list(rule.legal_basis),
                    "evidence": _public(rule, found.evidence),
                },
            )
        )
        dedupe_key = f"violation:{violation_id}"
        if event_type == "violation.blocked":
            # Repeated refused attempts of one person on one task under one rule raise one
            # alert while it is open (each attempt still has its violation row and event).
            same = hashlib.sha256(f"{rule.id}\0{outcome.task_id}\0{outcome.actor}".encode())
            prefix = f"blocked:{same.hexdigest()[:40]}:"
            if level is not None and has_open_alert(conn, instance.id, prefix):
                level = None
            dedupe_key = f"{prefix}{violation_id}"
        if level is not None:
            alert = open_alert(
                conn,
                instance,
                AlertSpec(
                    level=level,
                    source="rule",
                    reason=rule.id,
                    message=rule.message,
                    dedupe_key=dedupe_key,
                    task_id=outcome.task_id,
                    element_id=outcome.element_id,
                    element_name=outcome.task_name,
                    roles=outcome.roles,
                    persons=[outcome.actor],
                    rule_id=rule.id,
                    rule_version=rule.version,
                    violation_id=int(violation_id),
                ),
                at=at,
            )
            if alert is not None:
                events.append(alert)
    return events


def _public(rule: Rule, evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence an instance's event chain may show to every participant and webhook: a
    recusal's counterparty comes from a private declaration, so it stays in the violations
    row (read by supervisors only)."""
    if rule.kind == "recusal":
        return {k: v for k, v in evidence.items() if k != "counterparty"}
    return evidence


def alert_level(conn: Connection, rule: Rule, profile_name: str | None) -> str | None:
    """The alert a violation raises: the rule's own level, else its process's alert profile's
    level for the rule's effect (``rule_levels``; two-tier: block red, warn yellow), none for
    a ``record`` rule without a level."""
    if rule.level is not None:
        return rule.level
    if rule.effect == "record":
        return None
    levels = profile_for(conn, profile_name).rule_levels
    return levels.get(rule.effect) or DEFAULT_LEVEL[rule.effect]


class _Moved(Exception):
    """The instance changed between loading and saving: roll back and try again."""


def record_blocked(store: Store, exc: RuleViolated, *, attempts: int = 3) -> None:
    """After a refused act rolled back: its violations, ``violation.blocked`` events and
    alerts, in a transaction of their own (retried if the instance moved meanwhile).

    The instance's state, data and tasks stay as they were; only its event chain (and alert
    level) moves.
    """
    blocked = exc.blocked
    if not isinstance(blocked, Blocked):
        return
    for _ in range(attempts):
        try:
            with store.begin(write=True) as conn:
                instance = queries.load_instance(conn, blocked.instance_id, lock=True)
                if instance is None:
                    return
                at = store.now()
                events = _violations(conn, instance, blocked.outcome, "violation.blocked", at)
                rows = event_rows(instance, events, conn=conn, actor=blocked.outcome.actor, at=at)
                if not queries.save_instance(conn, instance):
                    raise _Moved
                queries.insert_events(conn, rows)
                return
        except _Moved:
            continue
    # The refusal stands whatever happens here: the caller re-raises the RuleViolated (403
    # naming the rule), not a Conflict that would hide which rule refused the act.
    log.warning(
        "could not record the blocked attempt on instance %s after %d tries",
        blocked.instance_id,
        attempts,
    )
