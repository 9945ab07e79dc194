"""/v1/users: administrators create users, change their roles, disable and re-enable them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.schemas import (
    NAME_PATTERN,
    UserCreate,
    UserCreated,
    UserRead,
    UserToken,
    UserUpdate,
)
from powerflow.services import auth

router = APIRouter(prefix="/v1/users", tags=["users"])
ERRORS = documented(not_found="Unknown user", forbidden="Caller is not an administrator")
WRITE_ERRORS = documented(
    not_found="Unknown user",
    forbidden="Caller is not an administrator",
    conflict="The name is taken, or no active administrator would be left",
    invalid="Invalid name or role",
)
UserName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=100)]


@router.get("", response_model=list[UserRead], responses=ERRORS, summary="List users")
async def list_users(store: StoreDep, principal: PrincipalDep) -> list[UserRead]:
    """Every user with roles and whether disabled, by name."""
    found = await call(store, auth.users, store, principal)
    return [UserRead.model_validate(u, from_attributes=True) for u in found]


@router.post(
    "",
    status_code=201,
    response_model=UserCreated,
    responses=WRITE_ERRORS,
    summary="Create a user",
)
async def create_user(body: UserCreate, store: StoreDep, principal: PrincipalDep) -> UserCreated:
    """Create a user; the response carries their bearer token, shown only this once."""
    info, token = await call(store, auth.create_user, store, body.name, body.roles, principal)
    shown = UserRead.model_validate(info, from_attributes=True)
    return UserCreated(**shown.model_dump(), token=token)


@router.get("/{name}", response_model=UserRead, responses=ERRORS, summary="One user")
async def get_user(name: UserName, store: StoreDep, principal: PrincipalDep) -> UserRead:
    """A user's roles and whether disabled."""
    info = await call(store, auth.get_user, store, name, principal)
    return UserRead.model_validate(info, from_attributes=True)


@router.patch(
    "/{name}",
    response_model=UserRead,
    responses=WRITE_ERRORS,
    summary="Change roles, disable or re-enable a user",
)
async def update_user(
    name: UserName, body: UserUpdate, store: StoreDep, principal: PrincipalDep
) -> UserRead:
    """Replace the roles (``roles``) and/or disable (``disabled: true``) or re-enable the user.

    A disabled user's token is refused from this response on (other workers follow within 5 s);
    re-enabling makes the same token work again.
    """
    info = await call(
        store,
        auth.update_user,
        store,
        name,
        roles=body.roles,
        disabled=body.disabled,
        principal=principal,
    )
    return UserRead.model_validate(info, from_attributes=True)


@router.post(
    "/{name}/token",
    response_model=UserToken,
    responses=WRITE_ERRORS,
    summary="Issue a new token for a user",
)
async def rotate_token(name: UserName, store: StoreDep, principal: PrincipalDep) -> UserToken:
    """A new bearer token, shown only in this response; the old one stops working at once."""
    token = await call(store, auth.rotate_token, store, name, principal)
    return UserToken(name=name, token=token)
