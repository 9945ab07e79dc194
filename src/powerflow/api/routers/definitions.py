"""/v1/definitions: upload BPMN files and read deployed definitions."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.risk_schemas import RiskMapRead
from powerflow.api.schemas import (
    INT32_MAX,
    DefinitionRead,
    DeployResponse,
    Page,
    Problem,
)
from powerflow.services import definitions, deployment
from powerflow.services.bundles import BundleLimits, bundle_of
from powerflow.services.deployment import Upload
from powerflow.services.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from powerflow.services.power import risk
from powerflow.services.views import DefinitionView

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])

ERRORS = documented(not_found="Unknown definition")
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files deployed together (a bundle): "
                            ".bpmn, .dmn, or a .zip of them",
                        }
                    },
                    "required": ["file"],
                }
            },
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "application/xml": {"schema": {"type": "string"}},
            "text/xml": {"schema": {"type": "string"}},
        },
    }
}
XML_TYPES = ("application/xml", "text/xml", "application/bpmn+xml", "application/octet-stream")
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")


def _read(view: DefinitionView) -> DefinitionRead:
    return DefinitionRead.model_validate(view, from_attributes=True)


async def _uploads(request: Request) -> list[Upload]:
    """The files of an upload: one or several multipart ``file`` parts (each may be a zip), a
    zip body, or the XML itself."""
    settings = request.app.state.settings
    limits = BundleLimits(
        settings.max_bundle_files, settings.max_upload_bytes, settings.max_bundle_bytes
    )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=limits.max_files + 1) as form:
            parts = [p for p in form.getlist("file") if isinstance(p, UploadFile)]
            if not parts:
                raise InvalidInput("Send the BPMN file in a multipart field named 'file'.")
            if len(parts) > limits.max_files:
                raise PayloadTooLarge(
                    f"The upload holds more than {limits.max_files} files; the limit is "
                    f"{limits.max_files}."
                )
            read = [
                (await p.read(), p.filename or "upload.bpmn", p.content_type or "") for p in parts
            ]
        return bundle_of(read, limits)
    name = request.headers.get("x-filename", "upload.bpmn")[:255]
    if content_type in ZIP_TYPES:
        return bundle_of([(await request.body(), name, content_type)], limits)
    if content_type in XML_TYPES or content_type == "":
        return [Upload(name, await request.body())]
    raise UnsupportedMediaType(
        f"Unsupported content type '{content_type}': send multipart/form-data with one or more "
        "'file' fields, a zip archive as application/zip, or the BPMN XML itself as "
        "application/xml."
    )


@router.post(
    "",
    status_code=201,
    response_model=DeployResponse,
    openapi_extra=UPLOAD_BODY,
    summary="Upload BPMN and DMN files (one, or a bundle) and deploy them together",
    responses={
        200: {"model": DeployResponse, "description": "Identical content already deployed"},
        413: {"model": Problem, "description": "File too large"},
        415: {"model": Problem, "description": "Neither multipart nor XML"},
        422: {"model": Problem, "description": "The file has problems (listed)"},
        **ERRORS,
    },
)
async def upload_definition(
    request: Request,
    response: Response,
    store: StoreDep,
    principal: PrincipalDep,
    purpose: Annotated[
        Literal["deploy", "run", "view"],
        Query(
            description="deploy (default): run what can run, store the rest for viewing; "
            "run: refuse the file unless every process can be started; view: store every "
            "process for viewing only, keeping what would refuse a deployment as warnings."
        ),
    ] = "deploy",
    accept_any_data: Annotated[
        bool,
        Query(
            description="Processes that declare no pf:acceptsData accept any data at their "
            'start event and tasks without a form (as pf:acceptsData fields="*" would).'
        ),
    ] = False,
) -> DeployResponse:
    """Validate every file, then deploy a new version of each process and decision table in
    them, all or nothing (200 if nothing is new)."""
    deployment.check_may_deploy(principal)
    files = await _uploads(request)
    limit = request.app.state.settings.max_upload_bytes
    outcome = await run_in_threadpool(
        partial(
            deployment.deploy_files,
            max_bytes=limit,
            purpose=purpose,
            accept_any_data=accept_any_data,
        ),
        store,
        files,
        principal,
    )
    if not outcome.created:
        response.status_code = 200
    return DeployResponse(
        created=outcome.created,
        message=outcome.message,
        definitions=[_read(v) for v in outcome.definitions],
    )


@router.get(
    "",
    response_model=Page[DefinitionRead],
    responses=ERRORS,
    summary="The latest version of every process and decision table",
)
async def list_definitions(
    store: StoreDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
    kind: Annotated[
        Literal["process", "decision"] | None,
        Query(description="Only processes, or only DMN decision tables"),
    ] = None,
) -> Page[DefinitionRead]:
    """The latest version of every deployed process and decision table, by key."""
    page = await call(store, definitions.list_latest, store, limit=limit, offset=offset, kind=kind)
    return Page[DefinitionRead](
        items=[_read(v) for v in page.items], limit=limit, offset=offset, has_more=page.has_more
    )


@router.get(
    "/{key}",
    response_model=list[DefinitionRead],
    responses=ERRORS,
    summary="Every version of one process",
)
async def get_definition_versions(
    key: str, store: StoreDep, principal: PrincipalDep
) -> list[DefinitionRead]:
    """Every deployed version of a process key, newest first."""
    return [_read(v) for v in await call(store, definitions.versions, store, key)]


@router.get(
    "/{key}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, **ERRORS},
    summary="The BPMN XML of a definition version",
)
async def get_definition_xml(
    key: str,
    store: StoreDep,
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> Response:
    """The file a version was deployed from (latest unless ``version`` is given)."""
    view, xml = await call(store, definitions.xml_of, store, key, version)
    return Response(
        xml,
        media_type="application/xml",
        headers={"X-Definition-Version": str(view.version), "ETag": f'"{view.content_hash}"'},
    )


@router.get(
    "/{key}/risk-map",
    response_model=RiskMapRead,
    responses=ERRORS,
    summary="Per activity: risk point, responsible roles, time limits and guarding rules",
)
async def get_risk_map(
    key: str,
    store: StoreDep,
    principal: PrincipalDep,
    version: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
) -> RiskMapRead:
    """The risk map of a process version (latest unless ``version``): every activity in the
    diagram's reading order with its risk point and requirements, responsible roles, time
    limits, legal basis and the rules guarding it. Process metadata, not case data: every
    authenticated caller reads it, as the definition itself."""
    found = await call(store, risk.risk_map, store, key, version)
    return RiskMapRead.model_validate(found)
