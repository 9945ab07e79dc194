"""Declarations of relationships and interests (R12): what recusal rules compare against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from powerflow.db.engine import Store
from powerflow.db.models import Declaration
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.power.snapshots import Snapshot, refreshes
from powerflow.services.views import Page
from powerflow.services.visibility import sees_everything

DECLARATION_KINDS = (
    "spouse",
    "lineal_blood",
    "collateral_3",
    "in_law",
    "employment_3y",
    "director_3y",
    "controller_3y",
    "other",
)


def normalized(value: str) -> str:
    """How counterparties and list values are compared: trimmed, case-folded."""
    return " ".join(value.split()).casefold()


@dataclass(frozen=True)
class DeclarationView:
    """A declaration as the API shows it."""

    id: int
    person: str
    counterparty: str
    kind: str
    note: str | None
    declared_by: str
    declared_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None


def _view(row: Declaration) -> DeclarationView:
    return DeclarationView(
        id=row.id,
        person=row.person,
        counterparty=row.counterparty,
        kind=row.kind,
        note=row.note,
        declared_by=row.declared_by,
        declared_at=row.declared_at,
        withdrawn_by=row.withdrawn_by,
        withdrawn_at=row.withdrawn_at,
    )


def _load_active(conn: Connection) -> dict[str, dict[str, str]]:
    active: dict[str, dict[str, str]] = {}
    rows = conn.execute(
        select(Declaration.person, Declaration.counterparty, Declaration.counterparty_norm).where(
            Declaration.withdrawn_at.is_(None)
        )
    )
    for person, shown, norm in rows:
        active.setdefault(person, {})[norm] = shown
    return active


ACTIVE = Snapshot(
    select(
        func.count(),
        func.coalesce(func.max(Declaration.id), 0),
        func.count(Declaration.withdrawn_at),
    ),
    _load_active,
)
"""Every person's active declarations, kept in memory (snapshots.py)."""


@refreshes(ACTIVE)
def declare(
    store: Store,
    principal: Principal,
    *,
    counterparty: str,
    kind: str,
    note: str | None,
    person: str | None,
) -> DeclarationView:
    """Record the caller's (or, for an administrator, someone's) declaration."""
    if person not in (None, principal.name) and not principal.is_admin:
        raise Forbidden("Only an administrator may declare on behalf of someone else.")
    if kind not in DECLARATION_KINDS:
        raise InvalidInput(f"kind must be one of: {', '.join(DECLARATION_KINDS)}.")
    if not normalized(counterparty):
        raise InvalidInput("counterparty must name someone (a person or an organisation).")
    with store.write() as session:
        row = Declaration(
            person=person or principal.name,
            counterparty=counterparty.strip(),
            counterparty_norm=normalized(counterparty)[:255],
            kind=kind,
            note=note,
            declared_by=principal.name,
            declared_at=store.now(),
        )
        session.add(row)
        session.flush()
        return _view(row)


def list_declarations(
    store: Store,
    principal: Principal,
    *,
    person: str | None,
    include_withdrawn: bool,
    limit: int,
    offset: int,
) -> Page:
    """The caller's own declarations; monitors, auditors and administrators see everyone's."""
    everyone = sees_everything(principal)
    if person not in (None, principal.name) and not everyone:
        raise Forbidden("Only monitors, auditors and administrators read others' declarations.")
    stmt = select(Declaration)
    if person or not everyone:
        stmt = stmt.where(Declaration.person == (person or principal.name))
    if not include_withdrawn:
        stmt = stmt.where(Declaration.withdrawn_at.is_(None))
    stmt = stmt.order_by(Declaration.id).limit(limit + 1).offset(offset)
    with store.read() as session:
        rows = session.scalars(stmt).all()
        items = [_view(r) for r in rows[:limit]]
    return Page(items, limit, offset, len(rows) > limit)


@refreshes(ACTIVE)
def withdraw(store: Store, principal: Principal, declaration_id: int) -> DeclarationView:
    """Withdraw a declaration (a monitor or an administrator); the row stays.

    Not the declarant: withdrawing, acting on the counterparty's case and declaring again
    would step around the recusal rule. A declarant who declared in error asks a supervisor.
    """
    if not principal.has("monitor", "admin"):
        raise Forbidden(
            "Only a monitor or an administrator may withdraw a declaration: ask one of them "
            "(a declarant cannot withdraw their own, so that recusal cannot be stepped around)."
        )
    with store.write() as session:
        row = session.get(Declaration, declaration_id)
        if row is None:
            raise NotFound(f"There is no declaration {declaration_id}.")
        if row.withdrawn_at is not None:
            raise Conflict(f"Declaration {declaration_id} was already withdrawn.")
        row.withdrawn_at = store.now()
        row.withdrawn_by = principal.name
        session.flush()
        return _view(row)


def active_counterparties(conn: Connection, person: str) -> dict[str, str]:
    """The person's active declarations: normalized counterparty -> as declared."""
    return dict(ACTIVE.get(conn).get(person, {}))
