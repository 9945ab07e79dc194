"""Service settings from the environment (prefix POWERFLOW_) or a .env file."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; defaults run a laptop demo on ./powerflow.db."""

    model_config = SettingsConfigDict(env_prefix="POWERFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./powerflow.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    admin_token: SecretStr | None = Field(
        default=None, description="If set, the admin user's bearer token (else one is generated)"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_bundle_files: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most files one upload (several 'file' parts, or the entries of a zip) holds",
    )
    max_bundle_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1024,
        description="Most bytes the files of one bundle hold in all, once unzipped",
    )
    busy_timeout_ms: int = Field(default=5000, ge=0)
    deploy_examples: bool = Field(
        default=True, description="Deploy the bundled example processes on first start"
    )
    timer_poll_seconds: float = Field(default=1.0, gt=0)
    log_level: str = "info"
    time_zone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone of the business calendar: where working days start and end; "
        "also the zone of a BPMN timer date written without an offset",
    )
    alert_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the alert loop looks for deadlines and thresholds that have passed",
    )
    stats_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often the statistics aggregator counts new events: the statistics "
        "lag the events by at most about this long",
    )
    script_cpu_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="CPU seconds the scripts and conditions of one engine step may use in all; "
        "more "
        "fails the task with an incident (on SQLite a step holds up every request meanwhile)",
    )
    script_memory_mb: int = Field(
        default=64,
        ge=1,
        le=65536,
        description="Megabytes the scripts and conditions of one engine step may allocate; more "
        "fails the task with an incident",
    )
    step_cpu_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="CPU seconds one engine step may take in all (SpiffWorkflow's own work "
        "included) before it is stopped as a diagram that loops without waiting",
    )
    stream_coalesce_ms: float = Field(
        default=10,
        ge=0,
        le=1000,
        description="Event-stream subscribers wake at most this often: the commits of one "
        "window reach a subscriber in one write (more throughput, that much more latency)",
    )
    stream_send_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="An event-stream client that has not taken a write for this long is dropped",
    )
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI emit OpenTelemetry traces, metrics and logs to the globally "
        "configured providers (off by default: checking for providers costs every request)",
    )
    message_ttl_seconds: int = Field(
        default=3600,
        ge=0,
        le=366 * 86400,
        description="How long a message that no instance waits for (and no start event takes) is "
        "kept for a catch reached later; 0 refuses such messages (404) instead",
    )
    message_chain_limit: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="Most deliveries and starts one transaction may make as thrown messages and "
        "signals reach further instances; a longer chain is refused and rolled back (409)",
    )
    notice_max_objections: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Most objections one public notice takes (POST /public/notices/{id}/"
        "objections); past it, 409 with a sentence and nothing is stored",
    )
    public_rate_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="Requests per minute one client address may make to the unauthenticated "
        "/public/ routes (a token bucket; more answer 429 with Retry-After)",
    )
    public_burst: int = Field(
        default=60,
        ge=1,
        le=1_000_000,
        description="How many /public/ requests one client address may make at once before the "
        "per-minute rate applies",
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names, addresses or networks (CIDR) webhooks may "
        "target although they are loopback, link-local or private, e.g. "
        "'hooks.intranet,10.20.0.0/16'; every other non-public target is refused",
    )
    audit_key_file: str | None = Field(
        default=None,
        description="File holding the audit log's Ed25519 signing key (created with mode 0600 "
        "on first start if missing); default: beside a SQLite database file as "
        "'<file>.audit-key', else ~/.local/share/powerflow/audit-<hash of the URL>.key",
    )
    audit_origin: str | None = Field(
        default=None,
        max_length=200,
        description="The name of a new audit key, which is the origin line of every checkpoint "
        "(a schema-less URL such as 'audit.example.gov.cn/powerflow'); used only when the key "
        "file is created",
    )
    audit_sequence_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often committed events are appended to the audit log",
    )
    audit_checkpoint_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="How often a signed checkpoint is made when the audit log grew",
    )
    audit_witness_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated verifier keys of the witnesses whose cosignatures "
        "POST /v1/audit/checkpoints/{size}/cosignatures accepts",
    )

    archive_after_days: int | None = Field(
        default=None,
        ge=1,
        le=100 * 366,
        description="Retention period: ended (completed or cancelled) instances whose end is "
        "older than this many days move to the archive tables once the audit log covers them "
        "(docs/audit.md, 'Archive and retention'); unset (the default): nothing is archived "
        "by the service ('powerflow archive run --older-than DAYS' still works)",
    )
    archive_poll_seconds: float = Field(
        default=600.0,
        gt=0,
        le=86400,
        description="How often the service looks for instances to archive (when "
        "POWERFLOW_ARCHIVE_AFTER_DAYS is set)",
    )
    archive_batch: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="Instances archived per transaction: smaller holds the write lock for less "
        "time at once",
    )

    @field_validator("audit_witness_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value
