"""/v1/me and /health."""

from __future__ import annotations

from fastapi import APIRouter

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.schemas import Health, Me, Problem
from powerflow.db.engine import Store
from powerflow.db.migrate import current

router = APIRouter(tags=["system"])


@router.get(
    "/v1/me",
    response_model=Me,
    summary="Who am I",
    responses={401: {"model": Problem, "description": "No or invalid bearer token"}},
)
async def me(principal: PrincipalDep) -> Me:
    """The authenticated caller and their roles."""
    return Me(name=principal.name, roles=sorted(principal.roles))


@router.get("/health", response_model=Health, summary="Liveness")
async def health(store: StoreDep) -> Health:
    """Whether the service can reach its database, and the schema revision."""
    revision = await call(store, _revision, store)
    return Health(status="ok", database=store.dialect, schema_revision=revision)


def _revision(store: Store) -> str | None:
    """The schema revision, read once per store; later calls only check the connection."""
    cached = store.immutable_cache.get("schema_revision")
    if isinstance(cached, str):
        with store.begin(write=False) as conn:
            conn.exec_driver_sql("SELECT 1")
        return cached
    revision = current(store.engine)
    if revision is not None:
        store.immutable_cache["schema_revision"] = revision
    return revision
