"""/v1/messages and /v1/signals: messages and signals between instances."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.message_schemas import MessagePage, MessagePost, MessageRead, SignalPost
from powerflow.api.schemas import INT32_MAX
from powerflow.services import messages

router = APIRouter(tags=["messages"])
SEND_ERRORS = documented(
    not_found="Nothing waits for the message, no definition starts with it, and unmatched "
    "messages are not kept (POWERFLOW_MESSAGE_TTL_SECONDS=0)",
    forbidden="Sending needs the clerk or admin role",
    conflict="The deliveries it caused conflicted with another step, or passed the chain "
    "limit; nothing was changed",
    invalid="Invalid message",
    busy=True,
)
LIST_ERRORS = documented(
    not_found="Never",
    forbidden="Reading the log needs the monitor, auditor or admin role",
    invalid="Invalid filter",
)


@router.post(
    "/v1/messages",
    response_model=MessageRead,
    responses=SEND_ERRORS,
    summary="Send a message to the instance(s) waiting for it",
)
async def post_message(body: MessagePost, store: StoreDep, principal: PrincipalDep) -> MessageRead:
    """Deliver a message to the waiting instance whose correlation matches (every one with
    ``all``), else start an instance at a message start event of the latest definitions, else
    keep it for a catch reached later (``status: kept``) or refuse it (404) per setting."""
    view = await call(
        store,
        messages.post,
        store,
        principal,
        kind="message",
        name=body.name,
        payload=body.payload,
        correlation=body.correlation,
        business_key=body.business_key,
        every=body.all,
    )
    return MessageRead.model_validate(view, from_attributes=True)


@router.post(
    "/v1/signals",
    response_model=MessageRead,
    responses=SEND_ERRORS,
    summary="Broadcast a signal",
)
async def post_signal(body: SignalPost, store: StoreDep, principal: PrincipalDep) -> MessageRead:
    """Deliver a signal to every instance that waits for it (catch events, boundary events,
    event subprocesses) and start every latest definition with a signal start event."""
    view = await call(
        store,
        messages.post,
        store,
        principal,
        kind="signal",
        name=body.name,
        payload=body.payload,
    )
    return MessageRead.model_validate(view, from_attributes=True)


@router.get(
    "/v1/messages",
    response_model=MessagePage,
    responses=LIST_ERRORS,
    summary="The message log",
)
async def list_messages(
    store: StoreDep,
    principal: PrincipalDep,
    status: Annotated[
        str | None, Query(pattern="^(delivered|started|kept|expired|broadcast)$")
    ] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> MessagePage:
    """Messages and signals posted or thrown, with their outcome, newest first (monitors,
    auditors and administrators)."""
    page = await call(
        store,
        messages.list_messages,
        store,
        principal,
        status=status,
        name=name,
        limit=limit,
        offset=offset,
    )
    return MessagePage.model_validate(page, from_attributes=True)
