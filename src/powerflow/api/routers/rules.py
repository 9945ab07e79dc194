"""/v1/rules, /v1/violations, /v1/declarations, /v1/lists: negative-list rules (admin writes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from powerflow.api.alert_schemas import TimeBound
from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.rule_schemas import (
    DeclarationPage,
    DeclarationRead,
    DeclarationWrite,
    EntryRead,
    EntryWrite,
    ListRead,
    ListWrite,
    RuleDetail,
    RuleRead,
    RuleWrite,
    ViolationPage,
    ViolationRead,
)
from powerflow.api.schemas import INT32_MAX
from powerflow.services.power import declarations, lists, rules, violations

router = APIRouter(tags=["rules"])
RULE_ERRORS = documented(
    not_found="Unknown rule",
    forbidden="Reading needs monitor, auditor, designer or admin; writing needs admin",
    invalid="The rule is not valid (the sentence says what)",
)
LIST_ERRORS = documented(
    not_found="Unknown list or entry",
    forbidden="Reading needs monitor, auditor or admin; writing needs admin",
    conflict="The value is already on the list",
    invalid="Invalid list or entry",
)
DECLARATION_ERRORS = documented(
    not_found="Unknown declaration",
    forbidden="Only the declarant or an administrator",
    conflict="Already withdrawn",
    invalid="Invalid declaration",
)
VIOLATION_ERRORS = documented(
    not_found="Not used", forbidden="Needs monitor, auditor or admin", invalid="Invalid filter"
)
RuleId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,100}$", description="The rule's id")]
ListName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX)]


def _rule(rule: rules.Rule) -> RuleRead:
    return RuleRead.model_validate(rule.as_dict())


@router.get("/v1/rules", response_model=list[RuleRead], responses=RULE_ERRORS, summary="Rules")
async def list_rules(
    store: StoreDep,
    principal: PrincipalDep,
    process_key: Annotated[str | None, Query(max_length=255)] = None,
    source: Annotated[Literal["bpmn", "api"] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> list[RuleRead]:
    """Every active rule: the organisation's API rules and those declared in the latest
    deployed processes (``source``). ``process_key``: the rules that guard that process (its
    own and the organisation-wide ones naming no process); ``source`` and ``kind`` filter."""
    found = await call(
        store,
        rules.list_rules,
        store,
        principal,
        process_key=process_key,
        source=source,
        kind=kind,
    )
    return [_rule(r) for r in found]


@router.get(
    "/v1/rules/{rule_id}", response_model=RuleDetail, responses=RULE_ERRORS, summary="One rule"
)
async def get_rule(rule_id: RuleId, store: StoreDep, principal: PrincipalDep) -> RuleDetail:
    """The current version of a rule and every version, newest first."""
    current, versions = await call(store, rules.get_rule, store, principal, rule_id)
    return RuleDetail.model_validate(
        {**current.as_dict(), "versions": [v.as_dict() for v in versions]}
    )


@router.put(
    "/v1/rules/{rule_id}",
    response_model=RuleRead,
    status_code=200,
    responses={**RULE_ERRORS, 201: {"model": RuleRead, "description": "The first version"}},
    summary="Create or change a rule (a new version)",
)
async def put_rule(
    rule_id: RuleId, body: RuleWrite, response: Response, store: StoreDep, principal: PrincipalDep
) -> RuleRead:
    """Write version n+1 of an organisation-wide rule (201 for the first version). Admin."""
    raw: dict[str, Any] = body.model_dump()
    rule, created = await call(store, rules.put_rule, store, principal, rule_id, raw)
    response.status_code = 201 if created else 200
    return _rule(rule)


@router.delete(
    "/v1/rules/{rule_id}", response_model=RuleRead, responses=RULE_ERRORS, summary="Retire a rule"
)
async def delete_rule(rule_id: RuleId, store: StoreDep, principal: PrincipalDep) -> RuleRead:
    """A new version with ``enabled: false``; earlier versions and their violations stay."""
    return _rule(await call(store, rules.delete_rule, store, principal, rule_id))


@router.get(
    "/v1/violations",
    response_model=ViolationPage,
    responses=VIOLATION_ERRORS,
    summary="Recorded violations",
)
async def list_violations(
    store: StoreDep,
    principal: PrincipalDep,
    rule_id: Annotated[str | None, Query(max_length=100)] = None,
    definition_key: Annotated[str | None, Query(max_length=255)] = None,
    instance_id: Annotated[str | None, Query(max_length=36)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    effect: Annotated[str | None, Query(max_length=16)] = None,
    since: TimeBound = None,
    until: TimeBound = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ViolationPage:
    """Violations, newest first (monitor, auditor, admin)."""
    page = await call(
        store,
        violations.list_violations,
        store,
        principal,
        rule_id=rule_id,
        definition_key=definition_key,
        instance_id=instance_id,
        actor=actor,
        effect=effect,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return ViolationPage(
        items=[ViolationRead.model_validate(v) for v in page.items],
        limit=page.limit,
        offset=page.offset,
        has_more=page.has_more,
    )


@router.post(
    "/v1/declarations",
    status_code=201,
    response_model=DeclarationRead,
    responses=DECLARATION_ERRORS,
    summary="Declare a relationship or interest",
)
async def declare(
    body: DeclarationWrite, store: StoreDep, principal: PrincipalDep
) -> DeclarationRead:
    """Record a relationship (for recusal rules); ``person`` only for administrators."""
    view = await call(
        store,
        declarations.declare,
        store,
        principal,
        counterparty=body.counterparty,
        kind=body.kind,
        note=body.note,
        person=body.person,
    )
    return DeclarationRead.model_validate(view)


@router.get(
    "/v1/declarations",
    response_model=DeclarationPage,
    responses=DECLARATION_ERRORS,
    summary="Declarations",
)
async def list_declarations(
    store: StoreDep,
    principal: PrincipalDep,
    person: Annotated[str | None, Query(max_length=100)] = None,
    include_withdrawn: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> DeclarationPage:
    """The caller's own declarations; monitors, auditors and administrators see everyone's."""
    page = await call(
        store,
        declarations.list_declarations,
        store,
        principal,
        person=person,
        include_withdrawn=include_withdrawn,
        limit=limit,
        offset=offset,
    )
    return DeclarationPage(
        items=[DeclarationRead.model_validate(v) for v in page.items],
        limit=page.limit,
        offset=page.offset,
        has_more=page.has_more,
    )


@router.delete(
    "/v1/declarations/{declaration_id}",
    response_model=DeclarationRead,
    responses=DECLARATION_ERRORS,
    summary="Withdraw a declaration",
)
async def withdraw_declaration(
    declaration_id: Annotated[int, Path(ge=1, le=INT32_MAX)],
    store: StoreDep,
    principal: PrincipalDep,
) -> DeclarationRead:
    """Withdraw (a monitor or an administrator; a declarant asks one); the record stays with
    withdrawn_at."""
    view = await call(store, declarations.withdraw, store, principal, declaration_id)
    return DeclarationRead.model_validate(view)


@router.get("/v1/lists", response_model=list[ListRead], responses=LIST_ERRORS, summary="Lists")
async def list_lists(store: StoreDep, principal: PrincipalDep) -> list[ListRead]:
    """Every list, without its entries (monitor, auditor, admin)."""
    return [
        ListRead.model_validate(v) for v in await call(store, lists.list_lists, store, principal)
    ]


@router.put(
    "/v1/lists/{name}",
    response_model=ListRead,
    responses={**LIST_ERRORS, 201: {"model": ListRead, "description": "Created"}},
    summary="Create a list or change its description",
)
async def put_list(
    name: ListName, body: ListWrite, response: Response, store: StoreDep, principal: PrincipalDep
) -> ListRead:
    """Create (201) or describe (200) a list. Admin."""
    view, created = await call(store, lists.put_list, store, principal, name, body.description)
    response.status_code = 201 if created else 200
    return ListRead.model_validate(view)


@router.get("/v1/lists/{name}", response_model=ListRead, responses=LIST_ERRORS, summary="One list")
async def get_list(
    name: ListName, store: StoreDep, principal: PrincipalDep, removed: bool = False
) -> ListRead:
    """A list with its active entries (``removed=true``: the removed ones too)."""
    view = await call(store, lists.get_list, store, principal, name, removed=removed)
    return ListRead.model_validate(view)


@router.post(
    "/v1/lists/{name}/entries",
    status_code=201,
    response_model=EntryRead,
    responses=LIST_ERRORS,
    summary="Put a value on a list",
)
async def add_entry(
    name: ListName, body: EntryWrite, store: StoreDep, principal: PrincipalDep
) -> EntryRead:
    """Add a value (compared trimmed and case-insensitively). Admin."""
    view = await call(store, lists.add_entry, store, principal, name, body.value, body.reason)
    return EntryRead.model_validate(view)


@router.delete(
    "/v1/lists/{name}/entries/{value}",
    response_model=EntryRead,
    responses=LIST_ERRORS,
    summary="Take a value off a list",
)
async def remove_entry(
    name: ListName,
    value: Annotated[str, Path(min_length=1, max_length=255)],
    store: StoreDep,
    principal: PrincipalDep,
) -> EntryRead:
    """Remove a value; the entry stays on record with removed_at. Admin."""
    view = await call(store, lists.remove_entry, store, principal, name, value)
    return EntryRead.model_validate(view)
