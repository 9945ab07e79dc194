"""The FastAPI application: routers, error mapping, limits and the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from powerflow import bootstrap
from powerflow.api import contract, errors
from powerflow.api.deps import call
from powerflow.api.limits import BodyLimit, NoNulInUrl
from powerflow.api.rate_limit import TokenBuckets
from powerflow.api.routers import (
    alerts,
    archive,
    audit,
    cases,
    console,
    definitions,
    events,
    exports,
    external_tasks,
    incidents,
    instances,
    messages,
    power,
    public,
    rules,
    stats,
    system,
    tasks,
    users,
    webhooks,
)
from powerflow.api.stream import CommitNotifier, EventTail
from powerflow.audit_log.note import NoteError, Signer, parse_verifier
from powerflow.db.engine import Store
from powerflow.engine import configure_limits, configure_time_zone
from powerflow.periodic import PeriodicThread
from powerflow.services import feed
from powerflow.services.audit import keys
from powerflow.settings import Settings
from powerflow.worker_process import StatisticsConfig, StatisticsProcess
from powerflow.workers import (
    AlertWorker,
    ArchiveWorker,
    AuditWorker,
    MessageWorker,
    TimerWorker,
    WebhookWorker,
)

log = logging.getLogger("powerflow")

DOCS_ASSETS = "/docs-assets"
DESCRIPTION = """powerflow runs power-operation processes as BPMN 2.0 diagrams: designers deploy
them, clerks advance their tasks within their roles, and every step is recorded as an event.
Authenticate with `Authorization: Bearer <token>`. Errors are `application/problem+json`."""


GC_THRESHOLDS = (10_000, 20, 10)
"""The cyclic collector's thresholds for a serving process (Python's default: 700, 10, 10).

A step of a large instance builds a few thousand short-lived objects (task rows, views, saved
state entries); with the default the youngest generation is scanned mid-step several times per
request and what is alive then is promoted, so a full collection (10-15 ms with the service's
working set, measured by bench/long_instances.py) came every 30 or so requests. Little of
powerflow's garbage is cyclic (reference counting frees it), so scanning less often costs only
a few thousand objects' worth of memory held a little longer."""


def audit_signer(settings: Settings) -> Signer:
    """The audit log's signing key, created on first start; its public key is logged."""
    path = (
        Path(settings.audit_key_file)
        if settings.audit_key_file
        else keys.default_key_file(settings.database_url)
    )
    signer, created = keys.load_or_create(path, settings.audit_origin)
    if created:
        print(  # noqa: T201 - shown to the operator, by design
            f"\n  powerflow: created the audit log's signing key in {path}. Its public key "
            f"(give it to auditors and witnesses):\n    {signer.verifier.encode()}\n",
            flush=True,
        )
    log.info("audit log key: %s (%s)", signer.verifier.encode(), path)
    for witness in settings.audit_witness_keys:
        try:
            parse_verifier(witness)
        except NoteError as exc:
            raise ValueError(f"POWERFLOW_AUDIT_WITNESS_KEYS: {witness!r}: {exc}") from exc
    return signer


def create_app(settings: Settings | None = None, *, run_workers: bool = True) -> FastAPI:
    """Build the application; the lifespan prepares the database and starts the workers."""
    settings = settings or Settings()
    configure_limits(
        cpu_seconds=settings.script_cpu_seconds,
        memory_mb=settings.script_memory_mb,
        step_cpu_seconds=settings.step_cpu_seconds,
    )
    configure_time_zone(settings.time_zone)  # naive timer dates (timer_expr)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.database_url, busy_timeout_ms=settings.busy_timeout_ms)
        store.time_zone = settings.time_zone
        store.message_ttl_seconds = settings.message_ttl_seconds
        store.message_chain_limit = settings.message_chain_limit
        store.notice_max_objections = settings.notice_max_objections
        token = bootstrap.prepare(store, settings)
        if token:
            print(  # noqa: T201 - shown once to the operator, by design
                f"\n  powerflow: created the admin user. Its bearer token (shown once):\n"
                f"    {token}\n",
                flush=True,
            )
        if settings.deploy_examples:
            deployed = bootstrap.deploy_examples(store, settings)
            if deployed:
                log.warning("deployed example processes: %s", ", ".join(deployed))
        app.state.store = store
        app.state.audit_signer = audit_signer(settings)
        store.start_checkpointer()
        notifier = CommitNotifier(
            asyncio.get_running_loop(), coalesce=settings.stream_coalesce_ms / 1000
        )
        app.state.notifier = notifier
        store.commit_listeners.append(notifier.notify)
        app.state.tail = EventTail(
            notifier,
            read=lambda after, limit: call(
                store, feed.events_after, store, after=after, limit=limit
            ),
            newest=lambda: call(store, feed.latest_event_id, store),
        )
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # collector's scans, which otherwise walk it on every full collection.
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        loops: list[PeriodicThread] = (
            [
                TimerWorker(store, settings.timer_poll_seconds),
                WebhookWorker(store, allowed_hosts=settings.webhook_allowed_hosts),
                AlertWorker(store, settings.alert_poll_seconds),
                MessageWorker(store, settings.timer_poll_seconds),
                AuditWorker(
                    store,
                    app.state.audit_signer,
                    settings.audit_sequence_seconds,
                    settings.audit_checkpoint_seconds,
                ),
            ]
            if run_workers
            else []
        )
        if run_workers and settings.archive_after_days is not None:
            loops.append(
                ArchiveWorker(
                    store,
                    settings.archive_after_days,
                    settings.archive_poll_seconds,
                    settings.archive_batch,
                )
            )
        for i, loop in enumerate(loops):  # their passes take turns instead of coinciding
            loop.stagger((i + 1) / (len(loops) + 1))
        workers: list[PeriodicThread | StatisticsProcess] = list(loops)
        if run_workers:  # counting is CPU work: on another core, out of the requests' way
            workers.append(
                StatisticsProcess(
                    StatisticsConfig(
                        database_url=settings.database_url,
                        busy_timeout_ms=settings.busy_timeout_ms,
                        time_zone=settings.time_zone,
                        interval=settings.stats_poll_seconds,
                    )
                )
            )
        for worker in workers:
            worker.start()
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)  # process-wide: an embedding process gets its own back
            notifier.close()
            for worker in workers:
                worker.stop()
            store.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the installed package, not from a CDN:
    # they work on an intranet without internet access.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator
        title="powerflow",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.public_buckets = TokenBuckets(settings.public_rate_per_minute, settings.public_burst)
    errors.install(app)
    contract.install(app)
    # Routes are matched in order, router by router: the busiest (task completion, instance
    # start) come first.
    for router in (
        tasks.router,
        instances.router,
        system.router,
        events.router,
        definitions.router,
        webhooks.router,
        users.router,
        power.router,
        rules.router,
        alerts.router,
        external_tasks.router,
        incidents.router,
        messages.router,
        cases.router,
        public.router,
        public.supervision,
        stats.router,
        audit.router,
        audit.public,
        archive.router,
        exports.router,
        console.router,
    ):
        app.include_router(router)
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        uploads=settings.max_upload_bytes,
        upload_prefix="/v1/definitions",
    )
    app.add_middleware(NoNulInUrl)
    return app
