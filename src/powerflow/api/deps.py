"""Request dependencies: the store and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from powerflow.db.engine import Store
from powerflow.services import auth
from powerflow.services.auth import Principal
from powerflow.services.errors import Unauthenticated

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
