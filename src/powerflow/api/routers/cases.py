"""/v1/cases, corrections and /v1/people/{name}/record: supervision cases and accountability."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from powerflow.api.alert_schemas import TimeBound
from powerflow.api.case_schemas import (
    CaseAct,
    CaseClose,
    CaseDetailRead,
    CaseOpen,
    CasePage,
    CorrectionCreate,
    CorrectionPage,
    CorrectionRead,
    CorrectionReply,
    FindingCreate,
    Outcome,
    PersonRecordRead,
)
from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.schemas import INT32_MAX
from powerflow.services.auth import NAME_PATTERN
from powerflow.services.supervision import cases, record
from powerflow.services.views import Page

router = APIRouter(tags=["cases"])
CaseId = Annotated[int, Path(ge=1, le=INT32_MAX)]
CorrectionId = Annotated[int, Path(ge=1, le=INT32_MAX)]
PersonPath = Annotated[str, Path(pattern=NAME_PATTERN.pattern, max_length=100)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]
CorrectionState = Annotated[str | None, Query(pattern="^(open|answered)$")]

NOT_FOUND = "Unknown case, or a case the caller may not see"
ACT_ERRORS = documented(
    not_found=NOT_FOUND,
    forbidden="Needs the monitor or admin role",
    conflict="The case is closed, or the instance is not in a state that allows it",
    invalid="Invalid body (the detail says which field and why)",
    busy=True,
)


def _detail(view: cases.CaseDetail) -> CaseDetailRead:
    return CaseDetailRead.model_validate(view, from_attributes=True)


def _corrections(page: Page) -> CorrectionPage:
    return CorrectionPage.model_validate(page, from_attributes=True)


@router.post(
    "/v1/cases",
    response_model=CaseDetailRead,
    status_code=201,
    responses=documented(
        not_found="Unknown instance, alert or violation",
        forbidden="Needs the monitor or admin role",
        invalid="Not exactly one subject, or another invalid field",
        busy=True,
    ),
    summary="Open a supervision case",
)
async def open_case(body: CaseOpen, store: StoreDep, principal: PrincipalDep) -> CaseDetailRead:
    """Open a supervision case (督办) on an instance, an alert or a violation (exactly one;
    the case concerns the alert's or violation's instance). Monitor, admin."""
    view = await call(
        store,
        cases.open_case,
        store,
        principal,
        instance_id=body.instance_id,
        alert_id=body.alert_id,
        violation_id=body.violation_id,
        title=body.title,
        reason=body.reason,
        responsible_unit=body.responsible_unit,
        responsible_role=body.responsible_role,
        due_at=body.due_at,
    )
    return _detail(view)


@router.get(
    "/v1/cases",
    response_model=CasePage,
    responses=documented(not_found=NOT_FOUND, invalid="Bad filter"),
    summary="List supervision cases",
)
async def list_cases(
    store: StoreDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    instance_id: Annotated[str | None, Query(max_length=36)] = None,
    opened_by: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Outcome | None = None,
    person: Annotated[str | None, Query(max_length=100)] = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CasePage:
    """Cases the caller may see, newest first: every case for monitors, auditors and
    administrators; for anyone else, the cases with a correction addressed to them on an
    instance they may see. ``since``/``until`` bound the time opened; ``person`` keeps the
    cases whose outcome names that person (supervisors only)."""
    page = await call(
        store,
        cases.list_cases,
        store,
        principal,
        state=state,
        instance_id=instance_id,
        opened_by=opened_by,
        outcome=outcome,
        person=person,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return CasePage.model_validate(page, from_attributes=True)


@router.get(
    "/v1/cases/{case_id}",
    response_model=CaseDetailRead,
    responses=documented(not_found=NOT_FOUND),
    summary="One supervision case",
)
async def get_case(case_id: CaseId, store: StoreDep, principal: PrincipalDep) -> CaseDetailRead:
    """A case with its findings, corrections and timeline (the caller's share of them)."""
    return _detail(await call(store, cases.get_case, store, principal, case_id))


@router.post(
    "/v1/cases/{case_id}/findings",
    response_model=CaseDetailRead,
    status_code=201,
    responses=ACT_ERRORS,
    summary="Record a finding",
)
async def record_finding(
    case_id: CaseId, body: FindingCreate, store: StoreDep, principal: PrincipalDep
) -> CaseDetailRead:
    """Record a finding, optionally citing events of the instance as evidence (monitor,
    admin)."""
    view = await call(
        store,
        cases.record_finding,
        store,
        principal,
        case_id,
        text=body.text,
        evidence=body.evidence,
    )
    return _detail(view)


@router.post(
    "/v1/cases/{case_id}/corrections",
    response_model=CaseDetailRead,
    status_code=201,
    responses=ACT_ERRORS,
    summary="Demand a correction",
)
async def request_correction(
    case_id: CaseId, body: CorrectionCreate, store: StoreDep, principal: PrincipalDep
) -> CaseDetailRead:
    """Demand a correction of a role or a person (exactly one), optionally by a due time
    (monitor, admin). The addressee sees it at /v1/corrections and replies."""
    view = await call(
        store,
        cases.request_correction,
        store,
        principal,
        case_id,
        demand=body.demand,
        to_role=body.to_role,
        to_person=body.to_person,
        due_at=body.due_at,
    )
    return _detail(view)


@router.post(
    "/v1/cases/{case_id}/corrections/{correction_id}/reply",
    response_model=CorrectionRead,
    responses=documented(
        not_found="Unknown case or correction, or a case the caller may not see",
        forbidden="The correction is addressed to someone else",
        conflict="The case is closed, or the correction already answered",
        invalid="Invalid body",
        busy=True,
    ),
    summary="Reply to a correction",
)
async def reply(
    case_id: CaseId,
    correction_id: CorrectionId,
    body: CorrectionReply,
    store: StoreDep,
    principal: PrincipalDep,
) -> CorrectionRead:
    """The addressee (the person, or a holder of the role, involved in the instance) says
    what was corrected; the correction is answered."""
    view = await call(store, cases.reply, store, principal, case_id, correction_id, text=body.text)
    return CorrectionRead.model_validate(view, from_attributes=True)


@router.post(
    "/v1/cases/{case_id}/suspend",
    response_model=CaseDetailRead,
    responses=ACT_ERRORS,
    summary="Suspend the case's instance",
)
async def suspend(
    case_id: CaseId, body: CaseAct, store: StoreDep, principal: PrincipalDep
) -> CaseDetailRead:
    """Suspend the instance from the case (monitor, admin): its ``instance.suspended`` event
    carries the case id and the reason."""
    view = await call(
        store, cases.set_suspended, store, principal, case_id, suspend=True, reason=body.reason
    )
    return _detail(view)


@router.post(
    "/v1/cases/{case_id}/resume",
    response_model=CaseDetailRead,
    responses=ACT_ERRORS,
    summary="Resume the case's instance",
)
async def resume(
    case_id: CaseId, body: CaseAct, store: StoreDep, principal: PrincipalDep
) -> CaseDetailRead:
    """Resume the suspended instance from the case (monitor, admin)."""
    view = await call(
        store, cases.set_suspended, store, principal, case_id, suspend=False, reason=body.reason
    )
    return _detail(view)


@router.post(
    "/v1/cases/{case_id}/close",
    response_model=CaseDetailRead,
    responses=ACT_ERRORS,
    summary="Close a case with an accountability outcome",
)
async def close_case(
    case_id: CaseId, body: CaseClose, store: StoreDep, principal: PrincipalDep
) -> CaseDetailRead:
    """Close the case with an outcome (docs/supervision.md) and the people it concerns
    (monitor, admin). A closed case does not change."""
    view = await call(
        store,
        cases.close_case,
        store,
        principal,
        case_id,
        outcome=body.outcome,
        people=body.people,
        summary=body.summary,
    )
    return _detail(view)


@router.get(
    "/v1/corrections",
    response_model=CorrectionPage,
    responses=documented(not_found=NOT_FOUND, invalid="Bad filter"),
    summary="The corrections demanded of the caller",
)
async def my_corrections(
    store: StoreDep,
    principal: PrincipalDep,
    state: CorrectionState = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CorrectionPage:
    """Corrections addressed to the caller (by name or by a role they hold) on instances they
    may see, newest first; ``state=open`` is what still awaits their reply."""
    page = await call(
        store, cases.my_corrections, store, principal, state=state, limit=limit, offset=offset
    )
    return _corrections(page)


@router.get(
    "/v1/instances/{instance_id}/corrections",
    response_model=CorrectionPage,
    responses=documented(
        not_found="Unknown instance, or an instance the caller is not involved in",
        invalid="Bad filter",
    ),
    summary="Corrections demanded on an instance",
)
async def instance_corrections(
    instance_id: str,
    store: StoreDep,
    principal: PrincipalDep,
    state: CorrectionState = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CorrectionPage:
    """Corrections on an instance the caller may see, newest first: every one for monitors,
    auditors and administrators; those addressed to the caller for anyone else."""
    page = await call(
        store,
        cases.instance_corrections,
        store,
        principal,
        instance_id,
        state=state,
        limit=limit,
        offset=offset,
    )
    return _corrections(page)


@router.get(
    "/v1/people/{name}/record",
    response_model=PersonRecordRead,
    responses=documented(
        not_found="Not used: a person with nothing recorded has an empty record",
        forbidden="Needs the monitor, auditor or admin role",
        invalid="Bad time range",
    ),
    summary="A person's record of alerts, violations and case outcomes",
)
async def person_record(
    name: PersonPath,
    store: StoreDep,
    principal: PrincipalDep,
    since: TimeBound = None,
    until: TimeBound = None,
) -> PersonRecordRead:
    """Alerts on tasks the person claimed or completed, violations they committed, outcomes
    of closed cases naming them, with counts, over ``since``/``until`` (monitor, auditor,
    admin)."""
    view = await call(store, record.person_record, store, principal, name, since=since, until=until)
    return PersonRecordRead.model_validate(view, from_attributes=True)
