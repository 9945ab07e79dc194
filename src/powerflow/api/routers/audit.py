"""/v1/audit/...: the audit log's checkpoints, proofs and key (services/audit); /public/audit/:
the newest checkpoint and the key, for anyone (docs/audit.md, "Who sees what")."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from powerflow.api.audit_schemas import (
    AuditKeyRead,
    CheckpointList,
    CheckpointRead,
    ConsistencyProofRead,
    CosignatureAdd,
    InclusionProofRead,
)
from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.rate_limit import public_rate_limit
from powerflow.api.routers.public import TOO_MANY
from powerflow.api.schemas import Problem
from powerflow.audit_log.note import Signer
from powerflow.services.audit import checkpoints, proofs
from powerflow.services.errors import Forbidden

router = APIRouter(tags=["audit"])
public = APIRouter(tags=["public"], dependencies=[Depends(public_rate_limit)])

READERS = "Reading the audit log needs the auditor, monitor or admin role"
Size = Annotated[int, Query(ge=0, le=2**62, description="The tree size")]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _checkpoint(cp: checkpoints.CheckpointView) -> CheckpointRead:
    return CheckpointRead(
        tree_size=cp.tree_size,
        root=cp.root_b64,
        created_at=cp.created_at,
        origin=cp.origin,
        key_id=cp.key_id,
        note=cp.note,
    )


def _key(request: Request) -> AuditKeyRead:
    signer: Signer = request.app.state.audit_signer
    verifier = signer.verifier
    return AuditKeyRead(
        origin=verifier.name,
        key_id=f"{verifier.id:08x}",
        verifier_key=verifier.encode(),
        witnesses=list(request.app.state.settings.audit_witness_keys),
    )


@router.get(
    "/v1/audit/checkpoints/latest",
    response_model=CheckpointRead,
    responses=documented(not_found="No checkpoint has been made yet", forbidden=READERS),
    summary="The newest signed checkpoint",
)
async def latest_checkpoint(store: StoreDep, principal: PrincipalDep) -> CheckpointRead:
    """The newest checkpoint of the audit log (made every POWERFLOW_AUDIT_CHECKPOINT_SECONDS
    when the log grew)."""
    return _checkpoint(await call(store, checkpoints.latest, store, principal))


@router.get(
    "/v1/audit/checkpoints",
    response_model=CheckpointList,
    responses=documented(not_found="-", forbidden=READERS),
    summary="Kept checkpoints, largest tree first",
)
async def list_checkpoints(
    store: StoreDep,
    principal: PrincipalDep,
    before: Annotated[
        int | None, Query(ge=0, le=2**62, description="Only checkpoints of smaller trees")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CheckpointList:
    """Every kept checkpoint, a page at a time."""
    found = await call(store, checkpoints.listing, store, principal, before, limit)
    return CheckpointList(
        items=[_checkpoint(cp) for cp in found],
        next_before=found[-1].tree_size if len(found) == limit else None,
    )


@router.post(
    "/v1/audit/checkpoints",
    response_model=CheckpointRead,
    responses=documented(not_found="-", forbidden="Making a checkpoint needs the admin role"),
    summary="Make a checkpoint now",
)
async def make_checkpoint(
    request: Request, store: StoreDep, principal: PrincipalDep
) -> CheckpointRead:
    """Append what is committed and sign a checkpoint of the whole log (the newest is returned
    when the log did not grow since)."""
    if not principal.is_admin:
        raise Forbidden("Making a checkpoint needs the admin role.")
    signer: Signer = request.app.state.audit_signer
    # it may first append a backlog (after an upgrade): never on the event loop, even on SQLite
    return _checkpoint(await run_in_threadpool(checkpoints.make, store, signer))


@router.post(
    "/v1/audit/checkpoints/{tree_size}/cosignatures",
    response_model=CheckpointRead,
    responses=documented(
        not_found="No checkpoint of this tree size is kept",
        forbidden="Adding a cosignature needs the admin role",
        conflict="No witness is configured",
        invalid="The note is not this checkpoint, or carries no valid cosignature of a "
        "configured witness",
    ),
    summary="Add a witness's cosignature",
)
async def add_cosignature(
    tree_size: Annotated[int, Path(ge=0, le=2**62)],
    body: CosignatureAdd,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
) -> CheckpointRead:
    """Keep the cosignatures of configured witnesses (POWERFLOW_AUDIT_WITNESS_KEYS) that the
    given note carries: the checkpoint as ``powerflow audit cosign`` wrote it."""
    witnesses = request.app.state.settings.audit_witness_keys
    found = await call(
        store, checkpoints.add_cosignatures, store, principal, tree_size, body.note, witnesses
    )
    return _checkpoint(found)


@router.get(
    "/v1/audit/proofs/inclusion",
    response_model=InclusionProofRead,
    responses=documented(
        not_found="No event of this id",
        forbidden=READERS,
        conflict="The event is not in the log yet, or not in the tree of this size; retry in "
        "a moment or ask for a larger tree",
        invalid="The tree size is larger than the log",
    ),
    summary="Prove an event is in the log",
)
async def inclusion_proof(
    store: StoreDep,
    principal: PrincipalDep,
    event_id: Annotated[int, Query(ge=1, le=2**62, description="The event's id")],
    tree_size: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="The tree size (default: the newest checkpoint's)"),
    ] = None,
) -> InclusionProofRead:
    """The audit path of the event's leaf in the tree of ``tree_size`` leaves."""
    p = await call(store, proofs.inclusion, store, principal, event_id, tree_size)
    return InclusionProofRead(
        event_id=p.event_id,
        leaf_index=p.leaf_index,
        leaf_hash=_b64(p.leaf_hash),
        tree_size=p.tree_size,
        root=_b64(p.root),
        hashes=[_b64(h) for h in p.hashes],
    )


@router.get(
    "/v1/audit/proofs/consistency",
    response_model=ConsistencyProofRead,
    responses=documented(
        not_found="-",
        forbidden=READERS,
        invalid="'from' is larger than 'to', or 'to' is larger than the log",
    ),
    summary="Prove a smaller tree is a prefix of a larger one",
)
async def consistency_proof(
    store: StoreDep,
    principal: PrincipalDep,
    from_: Annotated[int, Query(alias="from", ge=0, le=2**62, description="The smaller size")],
    to: Annotated[int, Query(ge=0, le=2**62, description="The larger size")],
) -> ConsistencyProofRead:
    """The consistency proof between two tree sizes (RFC 9162 section 2.1.4)."""
    p = await call(store, proofs.consistency, store, principal, from_, to)
    return ConsistencyProofRead(
        from_=p.first,
        to=p.second,
        from_root=_b64(p.first_root),
        to_root=_b64(p.second_root),
        hashes=[_b64(h) for h in p.hashes],
    )


@router.get(
    "/v1/audit/key",
    response_model=AuditKeyRead,
    responses={401: {"model": Problem, "description": "No or invalid bearer token"}},
    summary="The log's public key",
)
async def audit_key(request: Request, principal: PrincipalDep) -> AuditKeyRead:
    """The verifier key that signs every checkpoint, and the accepted witnesses."""
    return _key(request)


@public.get(
    "/public/audit/checkpoints/latest",
    response_model=CheckpointRead,
    responses={
        404: {"model": Problem, "description": "No checkpoint has been made yet"},
        **TOO_MANY,
    },
    summary="The newest signed checkpoint (public)",
)
async def public_latest_checkpoint(store: StoreDep) -> CheckpointRead:
    """Anyone may hold the operator to the log's newest checkpoint: it shows only how many
    events the log holds and its root hash."""
    return _checkpoint(await call(store, checkpoints.latest, store, None))


@public.get(
    "/public/audit/key",
    response_model=AuditKeyRead,
    responses=TOO_MANY,
    summary="The log's public key (public)",
)
async def public_audit_key(request: Request) -> AuditKeyRead:
    """The verifier key that signs every checkpoint."""
    return _key(request)
