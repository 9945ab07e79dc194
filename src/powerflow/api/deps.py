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


def get_store(request: Request) -> Store:
    """The application's store."""
    store: Store = request.app.state.store
    return store


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from the bearer token; every route declares this dependency."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
    return auth.authenticate(get_store(request), credentials.credentials)


StoreDep = Annotated[Store, Depends(get_store)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
