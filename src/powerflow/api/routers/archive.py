"""/v1/archive: archived instances, read-only, and their proofs."""

from __future__ import annotations

from fastapi import APIRouter

from powerflow.api.archive_schemas import ArchivedInstanceRead, ProofBundle
from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.services.archive import proofs, reads

router = APIRouter(prefix="/v1/archive", tags=["archive"])

NOT_FOUND = "No archived instance of that id, or one the caller is not involved in"


@router.get(
    "/instances/{instance_id}",
    response_model=ArchivedInstanceRead,
    responses=documented(not_found=NOT_FOUND),
    summary="An archived instance",
)
async def get_archived(
    instance_id: str, store: StoreDep, principal: PrincipalDep
) -> ArchivedInstanceRead:
    """An instance moved to the archive after its retention period: its row, data and tasks as
    they were, and every recorded step; the same people see it as when it was live."""
    view = await call(store, reads.archived, store, principal, instance_id)
    return ArchivedInstanceRead.model_validate(view, from_attributes=True)


@router.get(
    "/instances/{instance_id}/proofs",
    response_model=ProofBundle,
    responses=documented(
        not_found="No archived instance of that id",
        forbidden="Reading proofs needs the auditor, monitor or admin role",
        conflict="An event of the instance is not in the audit log",
    ),
    summary="Inclusion proofs of an archived instance's events",
)
async def get_proofs(instance_id: str, store: StoreDep, principal: PrincipalDep) -> ProofBundle:
    """Each event of the archived instance as its leaf, with its inclusion proof against the
    newest signed checkpoint: checkable with the log's public key alone."""
    bundle = await call(store, proofs.bundle, store, principal, instance_id)
    return ProofBundle.model_validate(bundle)
