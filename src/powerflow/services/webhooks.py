"""Webhook subscriptions and their delivery, driven from the event table.

Each subscription has a cursor (the last event id its receiver acknowledged). The delivery
worker sends the matching events after the cursor, in id order, one at a time, signed per the
Standard Webhooks scheme (headers ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``).
A 2xx moves the cursor; anything else is retried with exponential backoff, and after
MAX_FAILURES consecutive failures the subscription is paused with the reason. The cursor is
committed only after the receiver answered, so a crash between commit and delivery loses
nothing: the event is sent after restart (at least once; receivers deduplicate on webhook-id).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import TypeAdapter
from sqlalchemy import or_, select
from standardwebhooks import Webhook as Signer

from powerflow.db.engine import Store
from powerflow.db.models import Webhook, WebhookDelivery, utcnow
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.feed import events_after, latest_event_id, parse_types
from powerflow.services.views import EventView

MANAGE_ROLES = ("admin", "monitor")
MAX_FAILURES = 10
MAX_BACKOFF = timedelta(minutes=5)
BATCH = 100
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class WebhookView:
    """A subscription as the API shows it (the secret only when just created)."""

    id: int
    url: str
    definition_key: str | None
    types: list[str]
    status: str
    paused_reason: str | None
    cursor: int
    failures: int
    next_attempt_at: datetime | None
    created_by: str
    created_at: datetime
    secret: str | None = None


@dataclass(frozen=True)
class DeliveryView:
    """One entry of the delivery log."""

    event_id: int
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    updated_at: datetime


def _view(row: Webhook, secret: str | None = None) -> WebhookView:
    return WebhookView(
        id=row.id,
        url=row.url,
        definition_key=row.filters.get("definition_key"),
        types=list(row.filters.get("types", [])),
        status=row.status,
        paused_reason=row.paused_reason,
        cursor=row.cursor,
        failures=row.failures,
        next_attempt_at=row.next_attempt_at,
        created_by=row.created_by,
        created_at=row.created_at,
        secret=secret,
    )


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput("The webhook url must be an absolute http:// or https:// URL.")
    return url


def _require(principal: Principal) -> None:
    if not principal.has(*MANAGE_ROLES):
        raise Forbidden("Managing webhooks needs the 'monitor' or 'admin' role.")


def new_secret() -> str:
    """A Standard Webhooks secret: 'whsec_' and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def create(
    store: Store,
    principal: Principal,
    *,
    url: str,
    definition_key: str | None,
    types: str | None,
    secret: str | None,
    from_start: bool,
) -> WebhookView:
    """Subscribe a URL; events from now on (or from the first event with ``from_start``)."""
    _require(principal)
    secret = secret or new_secret()
    try:
        Signer(secret)
    except Exception:
        raise InvalidInput(
            "The secret must be a Standard Webhooks secret ('whsec_' + base64)."
        ) from None
    filters: dict[str, Any] = {"types": parse_types(types)}
    if definition_key:
        filters["definition_key"] = definition_key
    cursor = 0 if from_start else latest_event_id(store)
    with store.write() as session:
        row = Webhook(
            url=_check_url(url),
            secret=secret,
            filters=filters,
            cursor=cursor,
            created_by=principal.name,
        )
        session.add(row)
        session.flush()
        return _view(row, secret)


def _get(session: Any, webhook_id: int) -> Webhook:
    row: Webhook | None = session.get(Webhook, webhook_id)
    if row is None:
        raise NotFound(f"Webhook {webhook_id} does not exist.")
    return row


def list_all(store: Store, principal: Principal) -> list[WebhookView]:
    """Every subscription."""
    _require(principal)
    with store.read() as session:
        return [_view(r) for r in session.scalars(select(Webhook).order_by(Webhook.id))]


def update(
    store: Store,
    principal: Principal,
    webhook_id: int,
    *,
    url: str | None,
    active: bool | None,
) -> WebhookView:
    """Change the URL, or pause/resume (resuming clears the failure count)."""
    _require(principal)
    with store.write() as session:
        row = _get(session, webhook_id)
        if url is not None:
            row.url = _check_url(url)
        if active is True:
            row.status, row.paused_reason, row.failures, row.next_attempt_at = (
                "active",
                None,
                0,
                None,
            )
        elif active is False:
            row.status, row.paused_reason = "paused", f"paused by {principal.name}"
        row.updated_at = utcnow()
        return _view(row)


def delete(store: Store, principal: Principal, webhook_id: int) -> None:
    """Remove a subscription and its delivery log."""
    _require(principal)
    with store.write() as session:
        row = _get(session, webhook_id)
        session.query(WebhookDelivery).filter(WebhookDelivery.webhook_id == webhook_id).delete()
        session.delete(row)


def deliveries(
    store: Store, principal: Principal, webhook_id: int, limit: int
) -> list[DeliveryView]:
    """The newest entries of a subscription's delivery log."""
    _require(principal)
    with store.read() as session:
        _get(session, webhook_id)
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.event_id.desc())
            .limit(limit)
        )
        return [
            DeliveryView(
                r.event_id, r.status, r.attempts, r.last_status_code, r.last_error, r.updated_at
            )
            for r in rows
        ]


_EVENT_JSON = TypeAdapter(EventView)


def message(view: EventView) -> str:
    """The body sent for an event: the same JSON as the API and the SSE stream."""
    return _EVENT_JSON.dump_json(view).decode()


def _send(client: httpx.Client, row: Webhook, view: EventView) -> tuple[int | None, str | None]:
    body = message(view)
    msg_id = f"evt_{view.id}"
    now = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(row.secret).sign(msg_id, now, body),
    }
    try:
        response = client.post(row.url, content=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


def _log(
    session: Any, webhook_id: int, event_id: int, status: str, code: int | None, error: str | None
) -> None:
    entry = session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.event_id == event_id
        )
    )
    if entry is None:
        entry = WebhookDelivery(webhook_id=webhook_id, event_id=event_id, attempts=0)
        session.add(entry)
    entry.attempts = (entry.attempts or 0) + 1
    entry.status, entry.last_status_code, entry.last_error = status, code, error
    entry.updated_at = utcnow()


def deliver_due(store: Store, client: httpx.Client, now: datetime | None = None) -> int:
    """Send what every due subscription has pending; return the number of events delivered."""
    now = now or utcnow()
    with store.read() as session:
        due = list(
            session.scalars(
                select(Webhook.id).where(
                    Webhook.status == "active",
                    or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now),
                )
            )
        )
    delivered = 0
    for webhook_id in due:
        delivered += _deliver_one(store, client, webhook_id)
    return delivered


def _deliver_one(store: Store, client: httpx.Client, webhook_id: int) -> int:
    with store.read() as session:
        row = session.get(Webhook, webhook_id)
        if row is None or row.status != "active":
            return 0
        session.expunge(row)
    pending = events_after(
        store,
        after=row.cursor,
        limit=BATCH,
        definition_key=row.filters.get("definition_key"),
        types=row.filters.get("types") or None,
    )
    delivered = 0
    for view in pending:
        code, error = _send(client, row, view)
        with store.write() as session:
            current = _get(session, webhook_id)
            if current.status != "active":
                return delivered
            if error is None:
                current.cursor, current.failures, current.next_attempt_at = view.id, 0, None
                _log(session, webhook_id, view.id, "delivered", code, None)
                delivered += 1
                continue
            current.failures += 1
            _log(session, webhook_id, view.id, "failed", code, error)
            if current.failures >= MAX_FAILURES:
                current.status = "paused"
                current.paused_reason = (
                    f"paused after {current.failures} failed attempts; last: {error}"
                )
            else:
                backoff = min(timedelta(seconds=2 ** (current.failures - 1)), MAX_BACKOFF)
                current.next_attempt_at = utcnow() + backoff
            current.updated_at = utcnow()
        return delivered
    return delivered
