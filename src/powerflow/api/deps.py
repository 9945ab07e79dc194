"""Request dependencies: the store and the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from powerflow.db.engine import Store
from powerflow.services import auth
from powerflow.services.auth import Principal
from powerflow.services.errors import Unauthenticated

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="Bearer token from `powerflow users add`")


async def get_store(request: Request) -> Store:
    """The application's store."""
    store: Store = request.app.state.store
    return store


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from the bearer token; every route declares this dependency.

    The lookup is one indexed primary-key-sized read, done inline on the event loop: cheaper
    than a hop to the thread pool, and the route itself then runs in one worker thread.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
    store: Store = request.app.state.store
    return auth.authenticate(store, credentials.credentials)


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
