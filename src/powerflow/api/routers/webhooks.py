"""/v1/webhooks: subscriptions that receive events by signed HTTP POST."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.schemas import (
    INT32_MAX,
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
)
from powerflow.services import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ERRORS = documented(not_found="Unknown webhook", invalid="Invalid subscription")
WebhookId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@router.post(
    "",
    status_code=201,
    response_model=WebhookRead,
    responses=ERRORS,
    summary="Subscribe a URL to events",
)
async def create_webhook(
    body: WebhookCreate, request: Request, store: StoreDep, principal: PrincipalDep
) -> WebhookRead:
    """Create a subscription; the response carries the signing secret, shown only once."""
    view = await call(
        store,
        webhooks.create,
        store,
        principal,
        url=body.url,
        definition_key=body.definition_key,
        types=body.types,
        secret=body.secret,
        from_start=body.from_start,
        allowed_hosts=request.app.state.settings.webhook_allowed_hosts,
    )
    return WebhookRead.model_validate(view, from_attributes=True)


@router.get("", response_model=list[WebhookRead], responses=ERRORS, summary="List webhooks")
async def list_webhooks(store: StoreDep, principal: PrincipalDep) -> list[WebhookRead]:
    """Every subscription with its cursor and state."""
    views = await call(store, webhooks.list_all, store, principal)
    return [WebhookRead.model_validate(v, from_attributes=True) for v in views]


@router.patch(
    "/{webhook_id}",
    response_model=WebhookRead,
    responses=ERRORS,
    summary="Change, pause or resume a webhook",
)
async def update_webhook(
    webhook_id: WebhookId,
    body: WebhookUpdate,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
) -> WebhookRead:
    """Change the URL, pause (``active: false``) or resume (``active: true``)."""
    view = await call(
        store,
        webhooks.update,
        store,
        principal,
        webhook_id,
        url=body.url,
        active=body.active,
        allowed_hosts=request.app.state.settings.webhook_allowed_hosts,
    )
    return WebhookRead.model_validate(view, from_attributes=True)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
    summary="Delete a webhook",
)
async def delete_webhook(
    webhook_id: WebhookId, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Remove the subscription and its delivery log."""
    await call(store, webhooks.delete, store, principal, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryRead],
    responses=ERRORS,
    summary="The delivery log of a webhook",
)
async def list_deliveries(
    webhook_id: WebhookId,
    store: StoreDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryRead]:
    """The newest deliveries: status, attempts, last status code and error."""
    views = await call(store, webhooks.deliveries, store, principal, webhook_id, limit)
    return [DeliveryRead.model_validate(v, from_attributes=True) for v in views]
