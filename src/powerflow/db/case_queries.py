"""SQL of supervision cases: cases, findings, corrections, people, timeline, a person's record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from powerflow.db.models import (
    Alert,
    CaseCorrection,
    CaseEvent,
    CaseFinding,
    CasePerson,
    Event,
    Instance,
    SupervisionCase,
    Violation,
)

_C = SupervisionCase
_K = CaseCorrection
PERSON_TASK_EVENTS = ("task.claimed", "task.completed")
"""The events that make a task one a person held or completed (their record's alerts)."""


def subject_instance(conn: Connection, subject: str, subject_id: int) -> str | None:
    """The instance of an alert or a violation; None when there is no such row."""
    column = Alert.instance_id if subject == "alert" else Violation.instance_id
    key = Alert.id if subject == "alert" else Violation.id
    return conn.execute(select(column).where(key == subject_id)).scalar()


def instance_exists(conn: Connection, instance_id: str) -> bool:
    """Whether the instance exists."""
    return conn.execute(select(Instance.id).where(Instance.id == instance_id)).first() is not None


def insert_case(conn: Connection, values: dict[str, Any]) -> int:
    """Add a case; returns its id."""
    return int(conn.execute(insert(_C).values(**values).returning(_C.id)).scalar_one())


def _with_business_key() -> Select[Any]:
    """Case rows with their instance's business key (one join, through an alias so that the
    visibility clauses' subqueries over ``instances`` are not correlated with it)."""
    owner = aliased(Instance)
    return select(*_C.__table__.columns, owner.business_key).join(owner, owner.id == _C.instance_id)


def load_case(conn: Connection, case_id: int) -> dict[str, Any] | None:
    """One case row as a dict, with its instance's business key."""
    row = conn.execute(_with_business_key().where(_C.id == case_id)).first()
    return dict(row._mapping) if row is not None else None


def update_case(conn: Connection, case_id: int, values: dict[str, Any]) -> None:
    """Change columns of a case."""
    conn.execute(update(_C).where(_C.id == case_id).values(**values))


def insert_finding(conn: Connection, values: dict[str, Any]) -> int:
    """Add a finding; returns its id."""
    stmt = insert(CaseFinding).values(**values).returning(CaseFinding.id)
    return int(conn.execute(stmt).scalar_one())


def event_ids_of(conn: Connection, instance_id: str, ids: Sequence[int]) -> list[int]:
    """Which of these event ids are events of the instance."""
    stmt = select(Event.id).where(Event.instance_id == instance_id, Event.id.in_(list(ids)))
    return [int(i) for i in conn.execute(stmt).scalars()]


def insert_correction(conn: Connection, values: dict[str, Any]) -> int:
    """Add a correction demand; returns its id."""
    return int(conn.execute(insert(_K).values(**values).returning(_K.id)).scalar_one())


def load_correction(conn: Connection, case_id: int, correction_id: int) -> dict[str, Any] | None:
    """One correction of a case."""
    row = conn.execute(
        select(*_K.__table__.columns).where(_K.id == correction_id, _K.case_id == case_id)
    ).first()
    return dict(row._mapping) if row is not None else None


def answer_correction(conn: Connection, correction_id: int, values: dict[str, Any]) -> bool:
    """Record the reply of an open correction; False if it is no longer open."""
    result = conn.execute(
        update(_K).where(_K.id == correction_id, _K.state == "open").values(**values)
    )
    return result.rowcount == 1


def link_events(conn: Connection, case_id: int, seqs: Sequence[int]) -> None:
    """Put events of the case's instance (by seq) on the case's timeline."""
    if seqs:
        conn.execute(insert(CaseEvent), [{"case_id": case_id, "seq": s} for s in seqs])


def insert_people(conn: Connection, case_id: int, names: Sequence[str]) -> None:
    """The people a closed case's outcome names."""
    if names:
        conn.execute(insert(CasePerson), [{"case_id": case_id, "name": n} for n in names])


def people_of(conn: Connection, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The people named by each of these cases, sorted."""
    found: dict[int, list[str]] = {i: [] for i in case_ids}
    if case_ids:
        rows = conn.execute(
            select(CasePerson.case_id, CasePerson.name)
            .where(CasePerson.case_id.in_(list(case_ids)))
            .order_by(CasePerson.case_id, CasePerson.name)
        )
        for case_id, name in rows:
            found[case_id].append(name)
    return found


def findings_of(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's findings, oldest first."""
    rows = conn.execute(
        select(*CaseFinding.__table__.columns)
        .where(CaseFinding.case_id == case_id)
        .order_by(CaseFinding.id)
    )
    return [dict(r._mapping) for r in rows]


def addressed_to(name: str, roles: Sequence[str]) -> ColumnElement[bool]:
    """Corrections addressed to this person, by name or by a role they hold."""
    branches: list[ColumnElement[bool]] = [_K.to_person == name]
    if roles:
        branches.append(_K.to_role.in_(sorted(roles)))
    return or_(*branches)


def _corrections_select() -> Select[Any]:
    return select(*_K.__table__.columns, _C.title.label("case_title")).join(_C, _C.id == _K.case_id)


def corrections_of(
    conn: Connection, case_id: int, only: ColumnElement[bool] | None
) -> list[dict[str, Any]]:
    """A case's corrections, oldest first (``only``: those addressed to the caller)."""
    stmt = _corrections_select().where(_K.case_id == case_id)
    if only is not None:
        stmt = stmt.where(only)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(_K.id))]


def has_addressed_correction(conn: Connection, case_id: int, only: ColumnElement[bool]) -> bool:
    """Whether the case has a correction addressed to the caller."""
    stmt = select(_K.id).where(_K.case_id == case_id, only).limit(1)
    return conn.execute(stmt).first() is not None


def list_corrections(
    conn: Connection,
    *,
    instance_id: str | None,
    only: ColumnElement[bool] | None,
    visible: ColumnElement[bool] | None,
    state: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Corrections newest first, filtered; ``limit + 1`` rows tell whether more follow."""
    stmt = _corrections_select()
    if instance_id is not None:
        stmt = stmt.where(_K.instance_id == instance_id)
    if only is not None:
        stmt = stmt.where(only)
    if visible is not None:
        stmt = stmt.join(Instance, Instance.id == _K.instance_id).where(visible)
    if state is not None:
        stmt = stmt.where(_K.state == state)
    stmt = stmt.order_by(_K.id.desc()).limit(limit + 1).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def timeline(conn: Connection, case_id: int, instance_id: str) -> list[dict[str, Any]]:
    """The events of the case's instance that belong to the case, in chain order."""
    stmt = (
        select(*Event.__table__.columns)
        .join(CaseEvent, and_(CaseEvent.seq == Event.seq, CaseEvent.case_id == case_id))
        .where(Event.instance_id == instance_id)
        .order_by(Event.seq)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def list_cases(
    conn: Connection,
    *,
    visible: ColumnElement[bool] | None,
    state: str | None,
    instance_id: str | None,
    opened_by: str | None,
    outcome: str | None,
    person: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Cases newest first, filtered, each with its instance's business key; ``limit + 1`` rows
    tell whether more follow."""
    stmt = _with_business_key()
    if visible is not None:
        stmt = stmt.where(visible)
    for column, value in (
        (_C.state, state),
        (_C.instance_id, instance_id),
        (_C.opened_by, opened_by),
        (_C.outcome, outcome),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if person is not None:
        stmt = stmt.where(exists().where(CasePerson.case_id == _C.id, CasePerson.name == person))
    if since is not None:
        stmt = stmt.where(_C.opened_at >= since)
    if until is not None:
        stmt = stmt.where(_C.opened_at < until)
    stmt = stmt.order_by(_C.opened_at.desc(), _C.id.desc()).limit(limit + 1).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def cases_addressing(
    only: ColumnElement[bool], visible_instances: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    """A WHERE clause over cases: a correction is addressed to the caller, and the caller may
    see the case's instance."""
    addressed = exists().where(_K.case_id == _C.id, only)
    if visible_instances is None:
        return addressed
    instance = exists().where(Instance.id == _C.instance_id, visible_instances)
    return and_(addressed, instance)


# --- a person's record ------------------------------------------------------------------


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    bounds = []
    if since is not None:
        bounds.append(column >= since)
    if until is not None:
        bounds.append(column < until)
    return bounds


def _person_tasks(name: str) -> Select[Any]:
    return select(Event.task_id).where(
        Event.actor == name, Event.type.in_(PERSON_TASK_EVENTS), Event.task_id.is_not(None)
    )


def _keyed(cols: tuple[Any, ...], instance_id: Any) -> Select[Any]:
    """The record items' columns with their instance's business key (one outer join)."""
    owner = aliased(Instance)
    return select(*cols, owner.business_key).outerjoin(owner, owner.id == instance_id)


def person_alerts(
    conn: Connection, name: str, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Alerts on tasks the person claimed or completed: newest ``limit``, and counts by level."""
    where = [Alert.task_id.in_(_person_tasks(name)), *_window(Alert.raised_at, since, until)]
    cols = (
        Alert.id,
        Alert.level,
        Alert.state,
        Alert.reason,
        Alert.message,
        Alert.instance_id,
        Alert.task_id,
        Alert.raised_at,
    )
    rows = conn.execute(
        _keyed(cols, Alert.instance_id)
        .where(*where)
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    counts = conn.execute(select(Alert.level, func.count()).where(*where).group_by(Alert.level))
    return [dict(r._mapping) for r in rows], {level: int(n) for level, n in counts}


def person_violations(
    conn: Connection, name: str, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Violations the person committed: newest ``limit``, and counts by rule."""
    where = [Violation.actor == name, *_window(Violation.occurred_at, since, until)]
    cols = (
        Violation.id,
        Violation.rule_id,
        Violation.effect,
        Violation.level,
        Violation.act,
        Violation.message,
        Violation.instance_id,
        Violation.task_id,
        Violation.occurred_at,
    )
    rows = conn.execute(
        _keyed(cols, Violation.instance_id)
        .where(*where)
        .order_by(Violation.occurred_at.desc())
        .limit(limit)
    )
    counts = conn.execute(
        select(Violation.rule_id, func.count()).where(*where).group_by(Violation.rule_id)
    )
    return [dict(r._mapping) for r in rows], {rule: int(n) for rule, n in counts}


def person_outcomes(
    conn: Connection, name: str, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Closed cases whose outcome names the person: newest ``limit``, counts by outcome."""
    named = exists().where(CasePerson.case_id == _C.id, CasePerson.name == name)
    where = [_C.state == "closed", named, *_window(_C.closed_at, since, until)]
    cols = (_C.id, _C.instance_id, _C.title, _C.outcome, _C.summary, _C.closed_at, _C.closed_by)
    rows = conn.execute(
        _keyed(cols, _C.instance_id)
        .where(*where)
        .order_by(_C.closed_at.desc(), _C.id.desc())
        .limit(limit)
    )
    counts = conn.execute(select(_C.outcome, func.count()).where(*where).group_by(_C.outcome))
    return [dict(r._mapping) for r in rows], {str(o): int(n) for o, n in counts}
