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
import ipaddress
import logging
import secrets
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import TypeAdapter
from sqlalchemy import or_, select
from standardwebhooks import Webhook as Signer

from powerflow.db.engine import Store
from powerflow.db.models import User, Webhook, WebhookDelivery, utcnow
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.feed import events_after, latest_event_id, parse_types
from powerflow.services.views import EventView
from powerflow.services.visibility import FEED_ROLES

FEED_ROLES_SET = frozenset(FEED_ROLES)

log = logging.getLogger("powerflow.webhooks")
MANAGE_ROLES = ("admin", "monitor")
MAX_FAILURES = 10
MAX_BACKOFF = timedelta(minutes=5)
BATCH = 100
TIMEOUT_SECONDS = 10.0
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


class TargetRefused(InvalidInput):
    """A webhook URL whose host is, or resolves to, an address webhooks may not reach."""


def _allowed(host: str, addresses: list[IPAddress], allowed_hosts: Collection[str]) -> bool:
    """Whether the setting lists the host name, or a network holding every address."""
    networks = []
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if entry == host:
            return True
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return bool(addresses) and all(any(a in n for n in networks) for a in addresses)


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_target(url: str, allowed_hosts: Collection[str] = ()) -> str:
    """Refuse a URL a webhook may not target; return it unchanged otherwise.

    The host name is resolved and every address checked: loopback, link-local, private,
    reserved and other non-public addresses are refused (a subscriber could otherwise make the
    server call its own admin ports or the cloud metadata service) unless the host, or a
    network holding its addresses, is listed in POWERFLOW_WEBHOOK_ALLOWED_HOSTS.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput("The webhook url must be an absolute http:// or https:// URL.")
    host = parsed.hostname.lower()
    if host in {h.strip().lower() for h in allowed_hosts}:
        return url
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise TargetRefused(f"The webhook host '{host}' cannot be resolved.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if _allowed(host, addresses, allowed_hosts):
        return url
    refused = sorted({str(a) for a in addresses if not _public(a)})
    if refused:
        raise TargetRefused(
            f"The webhook host '{host}' resolves to {', '.join(refused)}, a loopback, "
            "link-local or private address; webhooks may only target public addresses unless "
            "the host is listed in POWERFLOW_WEBHOOK_ALLOWED_HOSTS."
        )
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
    allowed_hosts: Collection[str] = (),
) -> WebhookView:
    """Subscribe a URL; events from now on (or from the first event with ``from_start``)."""
    _require(principal)
    check_target(url, allowed_hosts)
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
            url=url,
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
    allowed_hosts: Collection[str] = (),
) -> WebhookView:
    """Change the URL, or pause/resume (resuming clears the failure count)."""
    _require(principal)
    if url is not None:
        check_target(url, allowed_hosts)
    with store.write() as session:
        row = _get(session, webhook_id)
        if url is not None:
            row.url = url
        if active is True:
            row.status, row.paused_reason, row.failures, row.next_attempt_at = (
                "active",
                None,
                0,
                None,
            )
            row.created_by = principal.name  # delivers on the authority of who resumed it
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


def deliver_due(
    store: Store,
    client: httpx.Client,
    now: datetime | None = None,
    allowed_hosts: Collection[str] = (),
) -> int:
    """Send what every due subscription has pending; return the number of events delivered.

    Each subscription is isolated: one that cannot be processed counts a failure (back-off,
    then paused with the reason) and the others go on.
    """
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
        try:
            delivered += _deliver_one(store, client, webhook_id, allowed_hosts)
        except Exception as exc:  # a broken subscription must not stop the others
            _record_broken(store, webhook_id, exc)
    return delivered


def _record_broken(store: Store, webhook_id: int, exc: Exception) -> None:
    """Count an internal failure of one subscription like a failed delivery (back-off, pause)."""
    error = f"the subscription could not be processed: {type(exc).__name__}: {exc}"[:500]
    try:
        with store.write() as session:
            row = session.get(Webhook, webhook_id)
            if row is None:
                return
            _failed(row, error)
            delay = row.next_attempt_at
    except Exception as again:
        log.warning("webhook %s failed and its failure was not recorded: %s", webhook_id, again)
        return
    log.warning("webhook %s: %s (next attempt %s)", webhook_id, error, delay or "after resume")


def _failed(row: Webhook, error: str) -> None:
    """One more consecutive failure: back off exponentially, pause after MAX_FAILURES."""
    row.failures += 1
    if row.failures >= MAX_FAILURES:
        row.status = "paused"
        row.paused_reason = f"paused after {row.failures} failed attempts; last: {error}"
        row.next_attempt_at = None
    else:
        backoff = min(timedelta(seconds=2 ** (row.failures - 1)), MAX_BACKOFF)
        row.next_attempt_at = utcnow() + backoff
    row.updated_at = utcnow()


def _deliver_one(
    store: Store, client: httpx.Client, webhook_id: int, allowed_hosts: Collection[str]
) -> int:
    with store.read() as session:
        row = session.get(Webhook, webhook_id)
        if row is None or row.status != "active":
            return 0
        session.expunge(row)
        owner = session.scalar(select(User).where(User.name == row.created_by))
        entitled = (
            owner is not None and not owner.disabled and bool(FEED_ROLES_SET & set(owner.roles))
        )
    if not entitled:
        # The feed of every case goes out on its owner's authority: once they are disabled or
        # lose the monitor/admin role, nothing more is sent until someone entitled resumes it.
        with store.write() as session:
            current = _get(session, webhook_id)
            current.status, current.next_attempt_at = "paused", None
            current.paused_reason = (
                f"paused: {row.created_by}, who created or last resumed it, may no longer read "
                "the events of every instance (disabled, or without the monitor or admin role); "
                "a monitor or an administrator may resume it on their own authority"
            )
            current.updated_at = utcnow()
        return 0
    pending = events_after(
        store,
        after=row.cursor,
        limit=BATCH,
        definition_key=row.filters.get("definition_key"),
        types=row.filters.get("types") or None,
    )
    if not pending:
        return 0
    try:  # again at delivery: what a name resolves to can change after subscribing
        check_target(row.url, allowed_hosts)
        refused = None
    except InvalidInput as exc:
        refused = f"refused: {exc.message}"[:500]
    delivered = 0
    for view in pending:
        code, error = (None, refused) if refused else _send(client, row, view)
        with store.write() as session:
            current = _get(session, webhook_id)
            if current.status != "active":
                return delivered
            if error is None:
                current.cursor, current.failures, current.next_attempt_at = view.id, 0, None
                _log(session, webhook_id, view.id, "delivered", code, None)
                delivered += 1
                continue
            _log(session, webhook_id, view.id, "failed", code, error)
            _failed(current, error)
        return delivered
    return delivered
