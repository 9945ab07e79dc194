"""Request and response bodies of the public API (the source of api/openapi.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

INT32_MAX = 2**31 - 1
"""The largest version, per-instance sequence number, webhook id or offset (32-bit in SQL)."""
INT64_MAX = 2**63 - 1
"""The largest event id or event cursor (64-bit, what both databases hold)."""


def _without_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not hold the NUL character (U+0000)")
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""A text field of a request: no NUL character, which PostgreSQL can neither store nor compare."""


class Schema(BaseModel):
    """Base: read from service views by attribute."""

    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with powerflow's stable code."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    problems: list[BpmnProblem] | None = None
    fields: list[str] | None = None
    rule_id: str | None = Field(default=None, description="rule_violated: the rule broken")
    rule_version: int | None = Field(default=None, description="rule_violated: its version")
    message: str | None = Field(default=None, description="rule_violated: the rule's sentence")
    legal_basis: list[str] | None = Field(
        default=None, description="rule_violated: the rule's legal basis"
    )
    violations: list[dict[str, Any]] | None = Field(
        default=None, description="rule_violated: every blocking rule with its evidence"
    )


class BpmnProblem(BaseModel):
    """One problem of an uploaded BPMN or DMN file."""

    message: str
    file: str | None = Field(default=None, description="The file it is in (bundle uploads)")
    line: int | None = None
    element_id: str | None = None
    process_id: str | None = None
    severity: Literal["error", "warning"] = "error"


class TimeLimit(BaseModel):
    """A pf:timeLimit."""

    duration: str
    calendar: Literal["calendar", "working"] = "calendar"
    kind: Literal["step", "statutory", "promised"] = "step"
    extendable: str | None = Field(
        default=None, description="The most an approved extension may add (ISO 8601 duration)"
    )
    extension_approver: str | None = Field(
        default=None, description="The role that approves an extension (admin always may)"
    )


class Risk(BaseModel):
    """A pf:risk: level, description, prevention measures, and what a high-risk link requires
    of whoever completes it."""

    level: Literal["low", "medium", "high"]
    measures: list[str] = []
    description: str | None = Field(default=None, description="What can go wrong at this link")
    require_comment: bool = Field(
        default=False, description="Completing the task needs a reasoned comment"
    )
    countersign: str | None = Field(
        default=None, description="The role a second person needs to countersign a completion"
    )


class Disclosure(BaseModel):
    """A pf:disclosure: whether the step's result is public, and which fields."""

    public: bool
    fields: list[str] = []
    progress: bool | None = Field(
        default=None,
        description="On a process: whether its instances' progress is public (/public/progress)",
    )


class NoticeSpec(BaseModel):
    """A pf:notice: the fields the element publishes when it starts, and for how long."""

    period: str = Field(description="ISO 8601 duration, such as P5D")
    calendar: Literal["calendar", "working"] = "calendar"
    fields: list[str] = []
    objection_message: str | None = Field(
        default=None, description="The message an objection is delivered to the instance as"
    )
    title: str | None = None


class PowerBoundary(BaseModel):
    """The limit of a power: the variable holding the amount and the highest amount allowed."""

    amount_variable: str
    amount_cap: int | float | None = None


class PowerItem(BaseModel):
    """A pf:powerItem: the power list entry a process exercises."""

    code: str
    category: str | None = None
    name: str = ""
    boundary: PowerBoundary | None = None


class ClockPause(BaseModel):
    """pf:clockPause: why the case clock stops while a task of the element is open."""

    reason: str | None = None


class Metadata(BaseModel):
    """powerflow extension metadata of a process or an element."""

    responsible_roles: list[str] = []
    legal_basis: list[str] = []
    power_item: PowerItem | None = None
    time_limit: TimeLimit | None = None
    time_limits: dict[Literal["step", "statutory", "promised"], TimeLimit] = Field(
        default_factory=dict, description="Every declared time limit by kind"
    )
    risk: Risk | None = None
    disclosure: Disclosure | None = None
    clock_pause: ClockPause | None = Field(
        default=None, description="pf:clockPause: the case clock stops while this task is open"
    )
    alert_profile: str | None = Field(
        default=None, description="pf:alertProfile (process): the alert profile watching it"
    )
    notice: NoticeSpec | None = Field(
        default=None, description="pf:notice: a public notice published when the element starts"
    )


class DecisionSummary(BaseModel):
    """What a deployed DMN decision table decides."""

    hit_policy: str = Field(description="UNIQUE, FIRST or COLLECT")
    inputs: list[str] = Field(description="The input expressions, in column order")
    outputs: list[str] = Field(description="The output names, in column order")
    rules: int = Field(description="How many rules (rows) the table has")


class DefinitionRead(Schema):
    """A deployed version of a process or of a DMN decision table."""

    id: int
    key: str
    kind: Literal["process", "decision"] = Field(
        default="process",
        description="process: a bpmn:process; decision: a DMN decision table that business "
        "rule tasks evaluate (never started on its own)",
    )
    decision: DecisionSummary | None = Field(
        default=None, description="kind decision: what the table decides"
    )
    version: int
    name: str
    executable: bool
    not_executable_reason: str | None
    content_hash: str
    deployed_by: str
    deployed_at: datetime
    metadata: Metadata
    warnings: list[BpmnProblem]
    start_form: list[FormFieldRead] = Field(
        default_factory=list,
        description="The start event's form: the variables an instance may be started with",
    )


class DeployResponse(Schema):
    """The result of an upload."""

    created: bool
    message: str
    definitions: list[DefinitionRead]


class FormOption(BaseModel):
    """One choice of an enum form field."""

    id: str
    name: str


class FormFieldRead(BaseModel):
    """A form field of a user task."""

    id: str
    label: str
    type: str
    required: bool
    default: str | None = None
    options: list[FormOption] = []
    readonly: bool = Field(
        default=False, description="Shown to the clerk but not submitted (camunda readonly)."
    )
    limits: dict[str, float] = Field(
        default_factory=dict,
        description="Checked on submission: min/max (numbers), minlength/maxlength (text).",
    )


AlertLevel = Literal["prompt", "yellow", "red"]


class TaskRead(Schema):
    """A human task."""

    id: str
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the task's instance (case number)."
    )
    definition_key: str
    element_id: str
    name: str
    kind: str
    lane: str | None
    roles: list[str]
    state: Literal["ready", "awaiting_countersign", "completed", "cancelled"]
    assignee: str | None
    created_at: datetime
    due_at: datetime | None
    ended_at: datetime | None
    completed_by: str | None
    alert_level: AlertLevel | None = Field(
        default=None,
        description="The highest alert level raised on the task (prompt, yellow, red).",
    )
    overdue: bool = Field(
        default=False,
        description="Past its due time: still open after due_at, or closed after it.",
    )
    metadata: Metadata
    form: list[FormFieldRead]


class TaskDetail(TaskRead):
    """A task with the data it starts from (while it is ready)."""

    data: dict[str, Any] | None = None
    metadata_values: dict[str, Any] | None = Field(
        default=None,
        description="The task's spiffworkflow:taskMetadataValues, each expression evaluated "
        "against the task's data (null where an entry has no value or cannot be evaluated); "
        "null when the task declares none or is not ready.",
    )


class Incident(BaseModel):
    """Why a failed step parked the instance (its open incident, GET /v1/incidents)."""

    id: str | None = None
    element_id: str | None
    element_name: str | None
    message: str
    external_task_id: str | None = Field(
        default=None,
        description="The external task whose last retry failed (PUT /v1/external-tasks/{id}/"
        "retries resumes the instance)",
    )


class InstanceRead(Schema):
    """A process instance with its ready tasks (the first 50 in reading order)."""

    id: str
    definition_key: str
    definition_version: int
    business_key: str | None
    status: Literal["running", "suspended", "completed", "failed", "cancelled"]
    version: int
    data: dict[str, Any]
    incident: Incident | None
    next_timer_at: datetime | None
    waiting_messages: list[str]
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    promised_due_at: datetime | None = Field(
        default=None,
        description="The promised (承诺) deadline of the case, if its process has one.",
    )
    statutory_due_at: datetime | None = Field(
        default=None,
        description="The statutory (法定) deadline of the case, if its process has one.",
    )
    clock_paused: bool = Field(
        default=False,
        description="Whether the case clock is stopped (a pf:clockPause task is open).",
    )
    alert_level: AlertLevel | None = Field(
        default=None, description="The highest level among the case's alerts that are not resolved."
    )
    tasks: list[TaskRead] = Field(
        description="The instance's open tasks (ready, or awaiting a countersignature) in the "
        "diagram's reading order, at most 50: `tasks_total` says how many there are, "
        "`GET /v1/tasks?instance_id=` lists them all."
    )
    tasks_total: int = Field(
        description="How many tasks of the instance are open (ready or awaiting_countersign)."
    )


class InstanceCreate(BaseModel):
    """Start an instance of a deployed definition."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "definition_key": "complaint_handling",
                    "variables": {
                        "petitioner_name": "Zhang Wei",
                        "channel": "letter",
                        "subject": "Repair of the village road",
                    },
                }
            ]
        },
    )

    definition_key: Text = Field(min_length=1, max_length=255)
    business_key: Text | None = Field(default=None, min_length=1, max_length=255)
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=INT32_MAX)


class InstanceCancel(BaseModel):
    """Cancel, suspend or resume an instance, optionally saying why."""

    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=2000)


class TaskComplete(BaseModel):
    """Complete a task with the data entered."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(default_factory=dict)
    comment: Text | None = Field(
        default=None,
        max_length=4000,
        description="The completer's reasoned comment, recorded with task.completed (not task "
        "data); required by a high-risk link whose risk point sets requireComment",
    )


class MessageSend(BaseModel):
    """Deliver a BPMN message to an instance."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    payload: dict[str, Any] = Field(default_factory=dict)


class EventCursorRead(Schema):
    """Where the event log ends now: the newest event's id (0 when there is none)."""

    id: int


class EventRead(Schema):
    """One recorded step of an instance."""

    id: int
    instance_id: str
    seq: int
    type: str
    definition_key: str
    definition_version: int
    element_id: str | None
    element_name: str | None
    task_id: str | None
    actor: str
    payload: dict[str, Any]
    occurred_at: datetime
    prev_hash: str | None
    hash: str


class BrokenLink(Schema):
    """Where an audit trail stops verifying, and why."""

    seq: int | None
    reason: str


class AuditRead(Schema):
    """An instance's recorded steps and whether their hash chain verifies."""

    instance_id: str
    verified: bool
    broken: BrokenLink | None
    events: list[EventRead]


class WebhookCreate(BaseModel):
    """Subscribe a URL to events."""

    model_config = ConfigDict(extra="forbid")

    url: Text = Field(min_length=8, max_length=2000)
    definition_key: Text | None = Field(default=None, max_length=255)
    types: Text | None = Field(default=None, description="Comma-separated event types")
    secret: Text | None = Field(default=None, description="Standard Webhooks secret (whsec_...)")
    from_start: bool = Field(default=False, description="Also send every earlier event")


class WebhookUpdate(BaseModel):
    """Change a subscription's URL, or pause (false) / resume (true) it."""

    model_config = ConfigDict(extra="forbid")

    url: Text | None = Field(default=None, min_length=8, max_length=2000)
    active: bool | None = None


class WebhookRead(Schema):
    """A webhook subscription (the secret is shown only in the response that creates it)."""

    id: int
    url: str
    definition_key: str | None
    types: list[str]
    status: Literal["active", "paused"]
    paused_reason: str | None
    cursor: int
    failures: int
    next_attempt_at: datetime | None
    created_by: str
    created_at: datetime
    secret: str | None = None


class DeliveryRead(Schema):
    """One entry of a webhook's delivery log."""

    event_id: int
    status: Literal["delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    updated_at: datetime


class Page(Schema, Generic[T]):
    """A page of results."""

    items: list[T]
    limit: int
    offset: int
    has_more: bool


class TaskPage(Page[TaskRead]):
    """A page of the inbox, with the roles it was selected by (an empty inbox says why)."""

    caller_roles: list[str] = Field(
        default_factory=list, description="The roles the caller holds, sorted."
    )
    hint: str | None = Field(
        default=None, description="On an empty first page: why, and what to ask for."
    )


class Me(BaseModel):
    """The authenticated caller."""

    name: str
    roles: list[str]


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
ROLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Role = Annotated[str, Field(pattern=ROLE_PATTERN, max_length=64)]


class UserRead(Schema):
    """A user as administrators see it (never a token or its hash)."""

    name: str
    roles: list[str]
    disabled: bool
    created_at: datetime


class UserCreated(UserRead):
    """A new user with their bearer token, shown only in this response."""

    token: str


class UserToken(BaseModel):
    """A user's new bearer token, shown only in this response; the old one stops working."""

    name: str
    token: str


class UserCreate(BaseModel):
    """Create a user with roles."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    roles: list[Role] = Field(default_factory=list, max_length=100)


class UserUpdate(BaseModel):
    """Replace a user's roles, or disable (``disabled: true``) or re-enable them."""

    model_config = ConfigDict(extra="forbid")

    roles: list[Role] | None = Field(default=None, max_length=100)
    disabled: bool | None = None


class Health(BaseModel):
    """Liveness and the database in use."""

    status: Literal["ok"]
    database: str
    schema_revision: str | None


Problem.model_rebuild()
