"""/v1/external-tasks: workers fetch and lock service tasks, complete them or report failures."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.external_schemas import (
    ExternalBpmnError,
    ExternalComplete,
    ExternalExtendLock,
    ExternalFailure,
    ExternalRetries,
    ExternalTaskPage,
    ExternalTaskRead,
    FetchAndLock,
    LockedTaskRead,
)
from powerflow.api.schemas import INT32_MAX
from powerflow.services import external_tasks

router = APIRouter(prefix="/v1/external-tasks", tags=["external tasks"])

WORKER = "Caller lacks the 'worker' role, or is a worker limited to other topics"
NOT_FOUND = "Unknown external task"
HELD = documented(
    not_found=NOT_FOUND,
    forbidden=WORKER,
    conflict="The task is not locked by this worker, its lock expired, or its instance is not "
    "running",
    invalid="Variables the task does not declare as outputs, or not plain JSON",
    busy=True,
)
POLL_SECONDS = 0.2


@router.post(
    "/fetch-and-lock",
    response_model=list[LockedTaskRead],
    responses=documented(not_found=NOT_FOUND, forbidden=WORKER, busy=True),
    summary="Fetch and lock tasks of topics",
)
async def fetch_and_lock(
    body: FetchAndLock, store: StoreDep, principal: PrincipalDep
) -> list[LockedTaskRead]:
    """Lock up to ``max_tasks`` tasks of the topics for this worker (open ones, and those whose
    lock expired), highest priority first, then oldest. With ``async_response_timeout`` the
    request waits up to that many milliseconds for a task when none is there."""
    topics = {t.name: t.lock_duration for t in body.topics}
    deadline = time.monotonic() + body.async_response_timeout / 1000
    while True:
        locked = await call(
            store,
            external_tasks.fetch_and_lock,
            store,
            principal,
            worker_id=body.worker_id,
            max_tasks=body.max_tasks,
            topics=topics,
        )
        if locked or time.monotonic() >= deadline:
            return [LockedTaskRead.model_validate(t, from_attributes=True) for t in locked]
        await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


@router.post("/{task_id}/complete", status_code=204, responses=HELD, summary="Complete a task")
async def complete(
    task_id: str, body: ExternalComplete, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Complete a task this worker has locked; the instance runs on with the variables (only
    the declared outputs, if the task declares outputs)."""
    await call(
        store,
        external_tasks.complete,
        store,
        principal,
        task_id,
        worker_id=body.worker_id,
        variables=body.variables,
    )
    return Response(status_code=204)


@router.post("/{task_id}/failure", status_code=204, responses=HELD, summary="Report a failure")
async def failure(
    task_id: str, body: ExternalFailure, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Report that the work failed: with retries left the task is fetchable again after
    ``retry_timeout`` ms; with ``retries`` 0 the instance stops with an incident."""
    await call(
        store,
        external_tasks.failure,
        store,
        principal,
        task_id,
        worker_id=body.worker_id,
        error_message=body.error_message,
        error_details=body.error_details,
        retries=body.retries,
        retry_timeout_ms=body.retry_timeout,
    )
    return Response(status_code=204)


@router.post("/{task_id}/extend-lock", status_code=204, responses=HELD, summary="Extend a lock")
async def extend_lock(
    task_id: str, body: ExternalExtendLock, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Keep the lock ``new_duration`` ms from now (only the worker holding it, before it
    expires)."""
    await call(
        store,
        external_tasks.extend_lock,
        store,
        principal,
        task_id,
        worker_id=body.worker_id,
        new_duration_ms=body.new_duration,
    )
    return Response(status_code=204)


@router.post(
    "/{task_id}/bpmn-error",
    status_code=204,
    responses=documented(
        not_found=NOT_FOUND,
        forbidden=WORKER,
        conflict="The task is not locked by this worker, its lock expired, or its instance is "
        "not running",
        invalid="Nothing in the model catches this error code",
        busy=True,
    ),
    summary="Report a BPMN error",
)
async def bpmn_error(
    task_id: str, body: ExternalBpmnError, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Report a business error: the error boundary event that catches ``error_code`` (on the
    task, or an enclosing subprocess) takes over and the task is closed."""
    await call(
        store,
        external_tasks.bpmn_error,
        store,
        principal,
        task_id,
        worker_id=body.worker_id,
        error_code=body.error_code,
        error_message=body.error_message,
    )
    return Response(status_code=204)


@router.put(
    "/{task_id}/retries",
    response_model=ExternalTaskRead,
    responses=documented(
        not_found=NOT_FOUND,
        forbidden="Caller is not an administrator",
        conflict="The task is neither waiting for a retry nor stopped by an incident",
        busy=True,
    ),
    summary="Set a task's retries",
)
async def set_retries(
    task_id: str, body: ExternalRetries, store: StoreDep, principal: PrincipalDep
) -> ExternalTaskRead:
    """Give a task new retries: fetchable at once; if its last failure stopped the instance,
    the incident is resolved and the instance runs again."""
    task = await call(
        store, external_tasks.set_retries, store, principal, task_id, retries=body.retries
    )
    return ExternalTaskRead.model_validate(task, from_attributes=True)


@router.get(
    "",
    response_model=ExternalTaskPage,
    responses=documented(
        not_found=NOT_FOUND,
        forbidden="Caller is neither a worker nor a monitor, auditor or administrator",
    ),
    summary="List external tasks",
)
async def list_external_tasks(
    store: StoreDep,
    principal: PrincipalDep,
    topic: str | None = None,
    state: Annotated[
        str | None, Query(pattern="^(open|locked|incident|completed|cancelled)$")
    ] = None,
    instance_id: str | None = None,
    worker_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> ExternalTaskPage:
    """External tasks, oldest first (workers: those of their topics), without variables."""
    items, more = await call(
        store,
        external_tasks.list_external,
        store,
        principal,
        topic=topic,
        state=state,
        instance_id=instance_id,
        worker_id=worker_id,
        limit=limit,
        offset=offset,
    )
    return ExternalTaskPage(
        items=[ExternalTaskRead.model_validate(t, from_attributes=True) for t in items],
        limit=limit,
        offset=offset,
        has_more=more,
    )
