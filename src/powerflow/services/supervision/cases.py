"""Supervision cases (督办): open on an instance, an alert or a violation; findings; corrections
demanded of a role or a person and their replies; suspend and resume the instance; close with
an accountability outcome and the people it concerns (docs/supervision.md).

Every change is one event on the instance's hash chain (``case.*``, or ``instance.suspended`` /
``instance.resumed`` carrying the case id), written in the same transaction as the case's rows,
and linked to the case (``case_events``): the case's timeline is those events. The chain carries
ids and a sha256 digest of each text, not the texts: they are read here, under the case rule.

Who sees a case: monitors, auditors and administrators, every case; anyone else a case only if
a correction of it is addressed to them (by name, or by a role they hold) and they may see its
instance (services/visibility.py). They see its header and the corrections addressed to them;
findings, the people named, the summary and the timeline are for supervisors. Nobody else
learns that the case exists (404, as for an unknown id). Monitors and administrators act on a
case; the addressee of a correction replies to it. A closed case does not change (409).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection

from powerflow.audit_log.chain import canonical
from powerflow.db import case_queries, queries
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow
from powerflow.engine import StepEvent
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.events import event_rows
from powerflow.services.instances import apply_suspension, load_for_update
from powerflow.services.views import EventView, Page
from powerflow.services.visibility import (
    instance_not_found,
    may_see_instance_id,
    sees_everything,
    visible_instances_clause,
)

ACT_ROLES = ("monitor", "admin")
"""Who opens a case and acts on it (findings, corrections, suspend, resume, close)."""
SUBJECTS = ("instance", "alert", "violation")
CASE_STATES = ("open", "closed")
CORRECTION_STATES = ("open", "answered")
OUTCOMES: dict[str, str] = {
    "no_fault": "No fault found (予以了结): the case is closed without accountability",
    "criticism_education": "Criticism and education / admonitory talk (批评教育 / 约谈)",
    "written_self_examination": "Written self-examination (书面检查)",
    "circular": "Notice of criticism (通报批评)",
    "org_handling": "Organisational handling (组织处理)",
    "disciplinary_sanction": "Party or government discipline, transferred (党纪政务处分, 移送)",
    "judicial_transfer": "Transferred to the judicial organs (移送司法机关)",
}
"""Accountability outcomes a case closes with (docs/supervision.md); every one but
``no_fault`` names at least one person."""


@dataclass(frozen=True)
class CaseView:
    """A case as the API shows it (people and summary only to supervisors)."""

    id: int
    instance_id: str
    subject: str
    alert_id: int | None
    violation_id: int | None
    title: str
    reason: str
    responsible_unit: str | None
    responsible_role: str | None
    due_at: datetime | None
    state: str
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None
    summary: str | None
    people: list[str]
    business_key: str | None  # the instance's


@dataclass(frozen=True)
class FindingView:
    """A finding on a case."""

    id: int
    text: str
    evidence: list[int]
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class CorrectionView:
    """A correction demanded by a case, and the reply."""

    id: int
    case_id: int
    case_title: str
    instance_id: str
    demand: str
    to_role: str | None
    to_person: str | None
    due_at: datetime | None
    state: str
    requested_by: str
    requested_at: datetime
    reply: str | None
    replied_by: str | None
    replied_at: datetime | None


@dataclass(frozen=True)
class CaseDetail(CaseView):
    """A case with its findings, corrections and timeline (the caller's share of them)."""

    findings: list[FindingView]
    corrections: list[CorrectionView]
    timeline: list[EventView]


def case_not_found(case_id: int) -> NotFound:
    """The answer for an unknown case and for one the caller may not see: the same."""
    return NotFound(f"Supervision case {case_id} does not exist.")


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(content)).hexdigest()


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _check_due(due_at: datetime | None, now: datetime) -> None:
    if due_at is not None and due_at <= now:
        raise InvalidInput("due_at must be in the future.")


def _addressed(principal: Principal) -> ColumnElement[bool]:
    return case_queries.addressed_to(principal.name, sorted(principal.roles))


def _case_view(row: dict[str, Any], people: list[str], supervisor: bool) -> CaseView:
    fields: dict[str, Any] = {k: row.get(k) for k in CaseView.__dataclass_fields__ if k != "people"}
    view = CaseView(**fields, people=list(people))
    return view if supervisor else replace(view, people=[], summary=None)


def _correction_view(row: dict[str, Any]) -> CorrectionView:
    return CorrectionView(**{k: row[k] for k in CorrectionView.__dataclass_fields__})


def _visible_case(conn: Connection, principal: Principal, case_id: int) -> dict[str, Any]:
    """The case row, if the caller may see it; NotFound otherwise (as for no case)."""
    row = case_queries.load_case(conn, case_id)
    if row is None:
        raise case_not_found(case_id)
    if sees_everything(principal):
        return row
    if case_queries.has_addressed_correction(
        conn, case_id, _addressed(principal)
    ) and may_see_instance_id(conn, principal, row["instance_id"]):
        return row
    raise case_not_found(case_id)


class _CaseWrite:
    """One change of a case: the instance row locked, the case re-read under that lock (every
    change of a case locks its instance first, so changes of one case are serialized)."""

    def __init__(self, conn: Connection, store: Store, principal: Principal, case_id: int):
        self.conn = conn
        self.store = store
        self.actor = principal.name
        self.now = store.now()
        case = _visible_case(conn, principal, case_id)
        self.instance: InstanceRow = load_for_update(conn, case["instance_id"])
        locked = case_queries.load_case(conn, case_id)
        assert locked is not None
        self.case = locked

    def refuse_if_closed(self) -> None:
        if self.case["state"] == "closed":
            raise Conflict(f"Supervision case {self.case['id']} is closed; it cannot change.")

    def record(self, event_type: str, payload: dict[str, Any]) -> None:
        """Append the event to the instance's chain and put it on the case's timeline."""
        case_id = self.case["id"]
        _append(self.conn, self.instance, case_id, event_type, payload, self.actor, self.now)


def _append(
    conn: Connection,
    instance: InstanceRow,
    case_id: int,
    event_type: str,
    payload: dict[str, Any],
    actor: str,
    at: datetime,
) -> None:
    rows = event_rows(
        instance, [StepEvent(event_type, payload=payload)], conn=conn, actor=actor, at=at
    )
    if not queries.save_instance(conn, instance):
        raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)
    case_queries.link_events(conn, case_id, [int(r["seq"]) for r in rows])


def _require_actor_role(principal: Principal, what: str) -> None:
    if not principal.has(*ACT_ROLES):
        raise Forbidden(f"{what} needs the 'monitor' or 'admin' role.")


# --- writes -----------------------------------------------------------------------------


def open_case(
    store: Store,
    principal: Principal,
    *,
    instance_id: str | None,
    alert_id: int | None,
    violation_id: int | None,
    title: str,
    reason: str,
    responsible_unit: str | None,
    responsible_role: str | None,
    due_at: datetime | None,
) -> CaseDetail:
    """Open a case on exactly one subject: an instance, an alert or a violation (whose
    instance the case then concerns)."""
    _require_actor_role(principal, "Opening a supervision case")
    given = [
        name
        for name, value in (
            ("instance_id", instance_id),
            ("alert_id", alert_id),
            ("violation_id", violation_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "A supervision case concerns exactly one subject: give one of instance_id, alert_id "
            f"or violation_id (given: {', '.join(given) or 'none'})."
        )
    with store.begin(write=True) as conn:
        now = store.now()
        _check_due(due_at, now)
        if alert_id is not None:
            subject, target = "alert", case_queries.subject_instance(conn, "alert", alert_id)
            if target is None:
                raise NotFound(f"Alert {alert_id} does not exist.")
        elif violation_id is not None:
            subject = "violation"
            target = case_queries.subject_instance(conn, "violation", violation_id)
            if target is None:
                raise NotFound(f"Violation {violation_id} does not exist.")
        else:
            subject, target = "instance", instance_id
        assert target is not None
        instance = queries.load_instance(conn, target, lock=True)
        if instance is None:
            raise instance_not_found(target)
        values = {
            "instance_id": target,
            "subject": subject,
            "alert_id": alert_id,
            "violation_id": violation_id,
            "title": title,
            "reason": reason,
            "responsible_unit": responsible_unit,
            "responsible_role": responsible_role,
            "due_at": due_at,
            "state": "open",
            "opened_by": principal.name,
            "opened_at": now,
        }
        case_id = case_queries.insert_case(conn, values)
        payload = {
            "case_id": case_id,
            "subject": subject,
            "alert_id": alert_id,
            "violation_id": violation_id,
            "responsible_role": responsible_role,
            "due_at": _iso(due_at),
            "digest": _digest(
                {"title": title, "reason": reason, "responsible_unit": responsible_unit}
            ),
        }
        _append(conn, instance, case_id, "case.opened", payload, principal.name, now)
        return _detail(conn, principal, case_id)


def record_finding(
    store: Store, principal: Principal, case_id: int, *, text: str, evidence: list[int]
) -> CaseDetail:
    """Record a finding, optionally resting on events of the case's instance (their ids)."""
    with store.begin(write=True) as conn:
        w = _CaseWrite(conn, store, principal, case_id)
        _require_actor_role(principal, "Recording a finding")
        w.refuse_if_closed()
        evidence = sorted(set(evidence))
        if evidence:
            known = set(case_queries.event_ids_of(conn, w.instance.id, evidence))
            unknown = [e for e in evidence if e not in known]
            if unknown:
                raise InvalidInput(
                    f"Evidence must be events of instance {w.instance.id}; these are not: "
                    f"{', '.join(map(str, unknown))}."
                )
        finding_id = case_queries.insert_finding(
            conn,
            {
                "case_id": case_id,
                "text": text,
                "evidence": evidence,
                "recorded_by": principal.name,
                "recorded_at": w.now,
            },
        )
        w.record(
            "case.finding_recorded",
            {
                "case_id": case_id,
                "finding_id": finding_id,
                "evidence": evidence,
                "digest": _digest({"text": text}),
            },
        )
        return _detail(conn, principal, case_id)


def request_correction(
    store: Store,
    principal: Principal,
    case_id: int,
    *,
    demand: str,
    to_role: str | None,
    to_person: str | None,
    due_at: datetime | None,
) -> CaseDetail:
    """Demand a correction of a role or of a person (exactly one)."""
    with store.begin(write=True) as conn:
        w = _CaseWrite(conn, store, principal, case_id)
        _require_actor_role(principal, "Requesting a correction")
        w.refuse_if_closed()
        if (to_role is None) == (to_person is None):
            raise InvalidInput(
                "A correction is addressed to a role (to_role) or to a person (to_person): "
                "give exactly one."
            )
        _check_due(due_at, w.now)
        correction_id = case_queries.insert_correction(
            conn,
            {
                "case_id": case_id,
                "instance_id": w.instance.id,
                "demand": demand,
                "to_role": to_role,
                "to_person": to_person,
                "due_at": due_at,
                "state": "open",
                "requested_by": principal.name,
                "requested_at": w.now,
            },
        )
        w.record(
            "case.correction_requested",
            {
                "case_id": case_id,
                "correction_id": correction_id,
                "to_role": to_role,
                "to_person": to_person,
                "due_at": _iso(due_at),
                "digest": _digest({"demand": demand}),
            },
        )
        return _detail(conn, principal, case_id)


def reply(
    store: Store, principal: Principal, case_id: int, correction_id: int, *, text: str
) -> CorrectionView:
    """The addressee of a correction (the person, or a holder of the role, involved in the
    instance) replies with what was corrected."""
    with store.begin(write=True) as conn:
        w = _CaseWrite(conn, store, principal, case_id)
        correction = case_queries.load_correction(conn, case_id, correction_id)
        if correction is None:
            raise NotFound(f"Correction {correction_id} does not exist.")
        if not (
            correction["to_person"] == principal.name
            or (correction["to_role"] is not None and principal.has(correction["to_role"]))
        ):
            addressee = (
                f"the role '{correction['to_role']}'"
                if correction["to_role"] is not None
                else f"the person '{correction['to_person']}'"
            )
            raise Forbidden(
                f"Correction {correction_id} is addressed to {addressee}; only its addressee "
                "replies."
            )
        w.refuse_if_closed()
        answered = case_queries.answer_correction(
            conn,
            correction_id,
            {"state": "answered", "reply": text, "replied_by": principal.name, "replied_at": w.now},
        )
        if not answered:
            raise Conflict(f"Correction {correction_id} has already been answered.")
        w.record(
            "case.corrected",
            {
                "case_id": case_id,
                "correction_id": correction_id,
                "digest": _digest({"reply": text}),
            },
        )
        row = case_queries.load_correction(conn, case_id, correction_id)
        assert row is not None
        return _correction_view({**row, "case_title": w.case["title"]})


def set_suspended(
    store: Store, principal: Principal, case_id: int, *, suspend: bool, reason: str
) -> CaseDetail:
    """Suspend or resume the case's instance: the instance service's own step, its event
    carrying the case id and linked to the case's timeline."""
    with store.begin(write=True) as conn:
        w = _CaseWrite(conn, store, principal, case_id)
        _require_actor_role(principal, "Suspending or resuming an instance from a case")
        w.refuse_if_closed()
        seq = apply_suspension(
            conn,
            store,
            w.instance,
            actor=principal.name,
            suspend=suspend,
            reason=reason,
            case_id=case_id,
        )
        case_queries.link_events(conn, case_id, [seq])
        return _detail(conn, principal, case_id)


def close_case(
    store: Store,
    principal: Principal,
    case_id: int,
    *,
    outcome: str,
    people: list[str],
    summary: str,
) -> CaseDetail:
    """Close the case with an accountability outcome and the people it concerns."""
    with store.begin(write=True) as conn:
        w = _CaseWrite(conn, store, principal, case_id)
        _require_actor_role(principal, "Closing a supervision case")
        w.refuse_if_closed()
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of: {', '.join(OUTCOMES)}.")
        names = sorted({p.strip() for p in people if p.strip()})
        if outcome != "no_fault" and not names:
            raise InvalidInput(
                f"The outcome '{outcome}' concerns people: name at least one in 'people'."
            )
        case_queries.update_case(
            conn,
            case_id,
            {
                "state": "closed",
                "outcome": outcome,
                "summary": summary,
                "closed_by": principal.name,
                "closed_at": w.now,
            },
        )
        case_queries.insert_people(conn, case_id, names)
        w.record(
            "case.closed",
            {
                "case_id": case_id,
                "outcome": outcome,
                "people": len(names),
                "digest": _digest({"people": names, "summary": summary}),
            },
        )
        return _detail(conn, principal, case_id)


# --- reads ------------------------------------------------------------------------------


def _detail(conn: Connection, principal: Principal, case_id: int) -> CaseDetail:
    row = _visible_case(conn, principal, case_id)
    supervisor = sees_everything(principal)
    people = case_queries.people_of(conn, [case_id])[case_id]
    head = _case_view(row, people, supervisor)
    only = None if supervisor else _addressed(principal)
    corrections = [_correction_view(c) for c in case_queries.corrections_of(conn, case_id, only)]
    findings: list[FindingView] = []
    timeline: list[EventView] = []
    if supervisor:
        findings = [
            FindingView(
                id=f["id"],
                text=f["text"],
                evidence=[int(e) for e in f["evidence"]],
                recorded_by=f["recorded_by"],
                recorded_at=f["recorded_at"],
            )
            for f in case_queries.findings_of(conn, case_id)
        ]
        timeline = [
            EventView.of(e) for e in case_queries.timeline(conn, case_id, row["instance_id"])
        ]
    return CaseDetail(
        **head.__dict__, findings=findings, corrections=corrections, timeline=timeline
    )


def get_case(store: Store, principal: Principal, case_id: int) -> CaseDetail:
    """One case with the caller's share of its findings, corrections and timeline."""
    with store.begin(write=False) as conn:
        return _detail(conn, principal, case_id)


def list_cases(
    store: Store,
    principal: Principal,
    *,
    state: str | None = None,
    instance_id: str | None = None,
    opened_by: str | None = None,
    outcome: str | None = None,
    person: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """The cases the caller may see, newest first, filtered (one statement, plus one for the
    people of the page's cases)."""
    if state is not None and state not in CASE_STATES:
        raise InvalidInput(f"state must be one of: {', '.join(CASE_STATES)}.")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome must be one of: {', '.join(OUTCOMES)}.")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be later than since.")
    supervisor = sees_everything(principal)
    visible = (
        None
        if supervisor
        else case_queries.cases_addressing(
            _addressed(principal), visible_instances_clause(principal)
        )
    )
    with store.begin(write=False) as conn:
        rows = case_queries.list_cases(
            conn,
            visible=visible,
            state=state,
            instance_id=instance_id,
            opened_by=opened_by,
            outcome=outcome,
            person=person if supervisor else None,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        page_rows = rows[:limit]
        people = case_queries.people_of(conn, [r["id"] for r in page_rows])
    items = [_case_view(r, people[r["id"]], supervisor) for r in page_rows]
    return Page(items, limit, offset, len(rows) > limit)


def instance_corrections(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    state: str | None,
    limit: int,
    offset: int,
) -> Page:
    """Corrections demanded on an instance the caller may see: every one for supervisors,
    those addressed to the caller for anyone else."""
    _check_correction_state(state)
    with store.begin(write=False) as conn:
        if not may_see_instance_id(conn, principal, instance_id):
            raise instance_not_found(instance_id)
        if sees_everything(principal) and not case_queries.instance_exists(conn, instance_id):
            raise instance_not_found(instance_id)
        only = None if sees_everything(principal) else _addressed(principal)
        rows = case_queries.list_corrections(
            conn,
            instance_id=instance_id,
            only=only,
            visible=None,
            state=state,
            limit=limit,
            offset=offset,
        )
    items = [_correction_view(r) for r in rows[:limit]]
    return Page(items, limit, offset, len(rows) > limit)


def my_corrections(
    store: Store, principal: Principal, *, state: str | None, limit: int, offset: int
) -> Page:
    """Corrections addressed to the caller (by name or a role they hold) on instances they
    may see, newest first."""
    _check_correction_state(state)
    with store.begin(write=False) as conn:
        rows = case_queries.list_corrections(
            conn,
            instance_id=None,
            only=_addressed(principal),
            visible=visible_instances_clause(principal),
            state=state,
            limit=limit,
            offset=offset,
        )
    items = [_correction_view(r) for r in rows[:limit]]
    return Page(items, limit, offset, len(rows) > limit)


def _check_correction_state(state: str | None) -> None:
    if state is not None and state not in CORRECTION_STATES:
        raise InvalidInput(f"state must be one of: {', '.join(CORRECTION_STATES)}.")
