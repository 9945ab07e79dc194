"""Request dependencies: the store and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from powerflow.db.engine import Store
from powerflow.services import auth
from powerflow.services.auth import Principal
from powerflow.services.errors import Unauthenticated

T = TypeVar("T")


async def get_store(request: Request) -> Store:
    """The application's store."""
    store: Store = request.app.state.store
    return store


class BearerPrincipal(HTTPBearer):
    """HTTP bearer authentication that resolves the caller itself.

    One dependency instead of two (the credentials, then the caller): FastAPI's dependency
    resolution costs every request. As a subclass of HTTPBearer it still declares the bearer
    security scheme in the OpenAPI document.
    """

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """The caller, from the bearer token (a cache hit on most requests)."""
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
        store: Store = request.app.state.store
        return auth.authenticate(store, token)


current_principal = BearerPrincipal(
    auto_error=False,
    scheme_name="HTTPBearer",
    description="Bearer token from `powerflow users add`",
)


StoreDep = Annotated[Store, Depends(get_store)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def call(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a service call: inline on SQLite, in the thread pool elsewhere.

    SQLite admits one writer at a time and a local read or write takes well under a
    millisecond, so a thread adds a hop and lock contention without adding throughput. Network
    databases wait on round trips, which must not block the event loop.
    """
    if store.is_sqlite:
        return fn(*args, **kwargs)
    return await run_in_threadpool(fn, *args, **kwargs)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """A JSON response serialized once by pydantic (the route still declares its model)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")
