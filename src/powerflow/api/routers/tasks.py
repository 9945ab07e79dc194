"""/v1/tasks: the inbox; claim, unclaim and complete human tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call, json_response
from powerflow.api.errors import documented
from powerflow.api.instance_reads import instance_read
from powerflow.api.risk_schemas import CountersignDecision, CountersignRead
from powerflow.api.schemas import (
    INT32_MAX,
    InstanceRead,
    TaskComplete,
    TaskDetail,
    TaskPage,
    TaskRead,
)
from powerflow.services import tasks
from powerflow.services.power import countersign

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])

NOT_FOUND = "Unknown task, or one of an instance the caller is not involved in"
GONE = "The task's instance was archived (read-only; the answer names GET /v1/archive/...)"
ERRORS = documented(not_found=NOT_FOUND, forbidden="Caller lacks the task's role", gone=GONE)

WRITE_ERRORS = documented(
    not_found=NOT_FOUND,
    forbidden="Caller lacks the task's role, or a blocking rule refuses the act (code "
    "rule_violated, with rule_id, rule_version, message, legal_basis and violations)",
    conflict="Task not ready, claimed by someone else, or raced",
    invalid="Data does not fit the task's form",
    busy=True,
    gone=GONE,
)
State = Annotated[str | None, Query(pattern="^(ready|awaiting_countersign|completed|cancelled)$")]


@router.get("", response_model=TaskPage, responses=ERRORS, summary="The caller's inbox")
async def list_tasks(
    store: StoreDep,
    principal: PrincipalDep,
    state: State = None,
    role: str | None = None,
    assignee: str | None = None,
    instance_id: str | None = None,
    overdue: Annotated[
        bool | None, Query(description="Only tasks past (true) or within (false) their due time")
    ] = None,
    alert_level: Annotated[
        str | None,
        Query(pattern="^(prompt|yellow|red)$", description="Only tasks at this alert level"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> TaskPage:
    """The tasks the caller may act on, oldest first (every task for monitor, auditor, admin;
    with ``instance_id`` of an instance the caller is involved in, every task of it).

    The page carries the caller's roles; an empty first page also a hint saying why.
    """
    page = await call(
        store,
        tasks.list_tasks,
        store,
        principal,
        state=state,
        role=role,
        assignee=assignee,
        instance_id=instance_id,
        limit=limit,
        offset=offset,
        overdue=overdue,
        alert_level=alert_level,
    )
    return TaskPage(
        items=[TaskRead.model_validate(t, from_attributes=True) for t in page.items],
        limit=limit,
        offset=offset,
        has_more=page.has_more,
        caller_roles=sorted(principal.roles),
        hint=tasks.empty_inbox_hint(principal) if not page.items and offset == 0 else None,
    )


@router.get(
    "/{task_id}", response_model=TaskDetail, responses=ERRORS, summary="One task with its form"
)
async def get_task(task_id: str, store: StoreDep, principal: PrincipalDep) -> TaskDetail:
    """One task with its form fields and current data."""
    record = await call(store, tasks.get_task, store, principal, task_id)
    return TaskDetail.model_validate(record, from_attributes=True)


@router.post(
    "/{task_id}/claim", response_model=TaskRead, responses=WRITE_ERRORS, summary="Claim a task"
)
async def claim_task(task_id: str, store: StoreDep, principal: PrincipalDep) -> TaskRead:
    """Assign the task to the caller."""
    record = await call(store, tasks.claim, store, principal, task_id)
    return TaskRead.model_validate(record, from_attributes=True)


@router.post(
    "/{task_id}/unclaim",
    response_model=TaskRead,
    responses=WRITE_ERRORS,
    summary="Release a claimed task",
)
async def unclaim_task(task_id: str, store: StoreDep, principal: PrincipalDep) -> TaskRead:
    """Release the task so others in its role can take it."""
    record = await call(store, tasks.unclaim, store, principal, task_id)
    return TaskRead.model_validate(record, from_attributes=True)


@router.post(
    "/{task_id}/complete",
    response_model=InstanceRead,
    responses=WRITE_ERRORS,
    summary="Complete a task",
)
async def complete_task(
    task_id: str, body: TaskComplete, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Complete the task with data (and a reasoned comment); the instance runs to its next wait
    state atomically. A task whose risk point requires a countersignature is not advanced: it
    waits in state ``awaiting_countersign`` (shown in the returned instance)."""
    view = await call(store, tasks.complete, store, principal, task_id, body.data, body.comment)
    return json_response(instance_read(view))


COUNTERSIGN_ERRORS = documented(
    not_found=NOT_FOUND,
    forbidden="Caller lacks the countersign role, or submitted the completion themselves",
    conflict="The task needs no countersignature, none is waiting, or it was decided meanwhile",
    invalid="A refusal without a comment",
    busy=True,
    gone=GONE,
)


@router.post(
    "/{task_id}/countersign",
    response_model=InstanceRead,
    responses=COUNTERSIGN_ERRORS,
    summary="Countersign (approve or refuse) a high-risk task's completion",
)
async def countersign_task(
    task_id: str, body: CountersignDecision, store: StoreDep, principal: PrincipalDep
) -> Response:
    """A second person holding the countersign role decides on the completion waiting for it:
    approve completes the task with the submitted data (the instance runs on); refuse (with a
    comment) makes the task ready again for the person who submitted it."""
    view = await call(
        store, countersign.decide, store, principal, task_id, body.decision, body.comment
    )
    return json_response(instance_read(view))


@router.get(
    "/{task_id}/countersigns",
    response_model=list[CountersignRead],
    responses=ERRORS,
    summary="A task's countersignatures: submitted completions and their decisions",
)
async def list_countersigns(
    task_id: str, store: StoreDep, principal: PrincipalDep
) -> list[CountersignRead]:
    """What was submitted for countersignature, by whom, and each decision with its comment
    (oldest first; empty for a task that never needed one)."""
    rows = await call(store, tasks.countersigns, store, principal, task_id)
    return [CountersignRead.model_validate(r) for r in rows]
