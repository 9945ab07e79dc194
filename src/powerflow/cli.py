"""The ``powerflow`` command: serve, db, deploy, users, openapi."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from powerflow.settings import Settings

app = typer.Typer(
    help="powerflow: BPMN processes for supervising the exercise of public power.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users, roles and tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

DbOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides POWERFLOW_DATABASE_URL")
]


_USED: dict[str, str] = {}  # the database URL of this command, to name it in an error


def _settings(database_url: str | None = None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    _USED["database_url"] = settings.database_url
    return settings


class DatabaseUnavailable(Exception):
    """The database cannot be opened: carries one sentence for the operator."""


def database_problem(url: str, exc: BaseException) -> str:
    """One sentence saying why the database at ``url`` cannot be used (password hidden)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    hint = "use sqlite:///path/to/powerflow.db or postgresql+psycopg://user@host:5432/db"
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
    except Exception:
        return f"The database URL '{url}' is not a valid URL; {hint}."
    if isinstance(exc, NoSuchModuleError | ArgumentError | ModuleNotFoundError):
        return f"The database URL '{shown}' names an unknown kind of database; {hint}."
    original = getattr(exc, "orig", None) or exc
    reason = " ".join(str(original).split()).rstrip(".") or type(original).__name__
    if parsed.get_backend_name() == "sqlite":
        return (
            f"Cannot open the SQLite database {parsed.database!r}: {reason} "
            "(does its folder exist, and may powerflow write there?)."
        )
    return f"Cannot connect to the database {shown}: {reason}" + ("" if reason[-1] in "?!" else ".")


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    """The store, its schema created or upgraded; DatabaseUnavailable if it cannot be opened."""
    from sqlalchemy.exc import SQLAlchemyError

    from powerflow.db.engine import DatabaseBusy, Store
    from powerflow.db.migrate import upgrade
    from powerflow.engine import configure_limits, configure_time_zone

    configure_limits(
        cpu_seconds=settings.script_cpu_seconds,
        memory_mb=settings.script_memory_mb,
        step_cpu_seconds=settings.step_cpu_seconds,
    )
    configure_time_zone(settings.time_zone)  # naive timer dates (timer_expr)
    try:
        store = Store(settings.database_url, busy_timeout_ms=settings.busy_timeout_ms)
        store.time_zone = settings.time_zone
        store.message_ttl_seconds = settings.message_ttl_seconds
        store.message_chain_limit = settings.message_chain_limit
        store.notice_max_objections = settings.notice_max_objections
        upgrade(store.engine)
    except (SQLAlchemyError, DatabaseBusy, ModuleNotFoundError, OSError) as exc:
        raise DatabaseUnavailable(database_problem(settings.database_url, exc)) from None
    return store


def _check_port(host: str, port: int) -> None:
    """Exit with a sentence when the address cannot be listened on (before touching anything)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        typer.echo(
            f"powerflow: cannot listen on {host}:{port}: {reason}. Is another program (or "
            "another powerflow) using that port? Choose another with --port or POWERFLOW_PORT.",
            err=True,
        )
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    database_url: DbOption = None,
) -> None:
    """Run the HTTP service (creates or upgrades the database on start)."""
    import uvicorn

    from powerflow.app import audit_signer, create_app

    settings = _settings(database_url)
    host, port = host or settings.host, port or settings.port
    _check_port(host, port)  # before the database is created and the admin token shown
    _store(settings).dispose()  # a database that cannot be opened is one sentence, not a trace
    try:
        audit_signer(settings)  # made and printed on first start; a bad key file is a sentence
    except (ValueError, OSError) as exc:
        typer.echo(f"powerflow: cannot use the audit log's signing key: {exc}", err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For is not trusted: the TCP peer is the client
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DbOption = None) -> None:
    """Create or upgrade the schema to the latest revision."""
    from powerflow.db.migrate import current

    store = _store(_settings(database_url))
    typer.echo(f"database at revision {current(store.engine)}")


@app.command()
def deploy(
    files: Annotated[list[Path], typer.Argument(help="BPMN files", exists=True, dir_okay=False)],
    database_url: DbOption = None,
) -> None:
    """Deploy BPMN files directly into the database (as the 'system' designer)."""
    from powerflow.bootstrap import SYSTEM
    from powerflow.services import definitions
    from powerflow.services.errors import DomainError

    settings = _settings(database_url)
    store = _store(settings)
    failed = False
    for path in files:
        try:
            outcome = definitions.deploy(
                store, path.read_bytes(), path.name, SYSTEM, max_bytes=settings.max_upload_bytes
            )
            typer.echo(f"{path}: {outcome.message}")
        except DomainError as exc:
            failed = True
            typer.echo(f"{path}: {exc.message}", err=True)
            for p in exc.detail.get("problems", []):
                where = f"line {p['line']}" if p.get("line") else "?"
                typer.echo(f"  {where} {p.get('element_id') or ''}: {p['message']}", err=True)
    raise typer.Exit(1 if failed else 0)


@users_app.command("add")
def users_add(
    name: str,
    roles: Annotated[str, typer.Option(help="Comma-separated roles, e.g. clerk,finance-office")],
    database_url: DbOption = None,
) -> None:
    """Create a user and print their bearer token (shown once)."""
    from powerflow.services import auth
    from powerflow.services.errors import DomainError

    store = _store(_settings(database_url))
    try:
        token = auth.add_user(store, name, roles)
    except DomainError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(token)


@users_app.command("token")
def users_token(name: str, database_url: DbOption = None) -> None:
    """Issue a new token for a user (the old one stops working)."""
    from powerflow.services import auth
    from powerflow.services.errors import DomainError

    store = _store(_settings(database_url))
    try:
        typer.echo(auth.rotate_token(store, name))
    except DomainError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None


@users_app.command("roles")
def users_roles(
    name: str,
    roles: Annotated[str, typer.Option(help="The new comma-separated roles (replace the old)")],
    database_url: DbOption = None,
) -> None:
    """Replace a user's roles (a running server follows within 5 seconds)."""
    _update_user(name, database_url, roles=roles)


@users_app.command("disable")
def users_disable(name: str, database_url: DbOption = None) -> None:
    """Disable a user: their token stops working (on a running server within 5 seconds)."""
    _update_user(name, database_url, disabled=True)


@users_app.command("enable")
def users_enable(name: str, database_url: DbOption = None) -> None:
    """Re-enable a disabled user: their token works again."""
    _update_user(name, database_url, disabled=False)


def _update_user(
    name: str, database_url: str | None, *, roles: str | None = None, disabled: bool | None = None
) -> None:
    from powerflow.services import auth
    from powerflow.services.errors import DomainError

    store = _store(_settings(database_url))
    try:
        user = auth.update_user(store, name, roles=roles, disabled=disabled)
    except DomainError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    suffix = "\t(disabled)" if user.disabled else ""
    typer.echo(f"{user.name}\t{','.join(user.roles)}{suffix}")


@users_app.command("list")
def users_list(database_url: DbOption = None) -> None:
    """List users and their roles."""
    from powerflow.services import auth

    for name, roles, disabled in auth.list_users(_store(_settings(database_url))):
        suffix = "\t(disabled)" if disabled else ""
        typer.echo(f"{name}\t{','.join(roles)}{suffix}")


audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _verifier(value: str):  # type: ignore[no-untyped-def]
    """A verifier key given as the key string or as a file holding it."""
    from powerflow.audit_log import note

    text = value
    if "+" not in value or Path(value).is_file():
        text = Path(value).read_text().strip()
    try:
        return note.parse_verifier(text)
    except note.NoteError as exc:
        raise typer.BadParameter(str(exc)) from exc


@audit_app.command("verify")
def audit_verify(
    database_url: DbOption = None,
    offline: Annotated[
        bool, typer.Option(help="Verify an export against checkpoints, without the database")
    ] = False,
    public_key: Annotated[
        str | None, typer.Option(help="The log's verifier key (the string, or a file)")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Checkpoints kept apart from the export (JSON lines, or one note)"),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="A directory written by 'powerflow audit export'")
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option(help="Require the newest checkpoint to be cosigned by this witness key"),
    ] = None,
) -> None:
    """Verify every instance's hash chain against the database; or, with --offline, an export
    against signed checkpoints and the log's public key alone. Names the first problem found
    (exit status 1)."""
    if offline:
        _verify_offline(public_key, checkpoints, export, witness_key or [])
        return
    from powerflow.services import audit
    from powerflow.services.archive.verify import verify_archive

    store = _store(_settings(database_url))
    result = audit.verify_all(store)
    broken = result.broken
    archived = None
    if broken is None:
        archived = verify_archive(store)
        broken = archived.broken
    if broken is not None:
        where = f"event #{broken.seq}" if broken.seq is not None else "its chain head"
        kind = "archived instance" if archived is not None else "instance"
        typer.echo(f"BROKEN: {kind} {broken.instance_id}, {where}: {broken.reason}", err=True)
        raise typer.Exit(1)
    assert archived is not None
    typer.echo(
        f"verified: {result.instances} instances, {result.events} events, no broken link; "
        f"archive: {archived.instances} archived instances, {archived.events} events, each "
        "chain whole and every event its leaf in the audit log"
    )


def _verify_offline(
    public_key: str | None, checkpoints: Path | None, export: Path | None, witnesses: list[str]
) -> None:
    from powerflow.audit_log import offline
    from powerflow.services.audit.export import CHECKPOINTS, LEAF_HASHES, LEAVES

    if not public_key or export is None:
        raise typer.BadParameter("--offline needs --public-key and --export")
    key = _verifier(public_key)
    source = checkpoints or export / CHECKPOINTS
    if checkpoints is None:
        typer.echo(
            "note: checkpoints read from the export itself; pass --checkpoints with "
            "checkpoints kept apart from the operator for a verification that means something",
            err=True,
        )
    hashes = export / LEAF_HASHES
    report = offline.verify(
        export / LEAVES,
        offline.read_checkpoints(source),
        key,
        witnesses=[_verifier(w) for w in witnesses],
        stored_hashes=hashes if hashes.exists() else None,
    )
    for line in report.notes:
        typer.echo(line)
    if not report.ok:
        typer.echo(f"BROKEN: {report.problems[0]}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"verified offline: {report.checkpoints} checkpoints signed by {key.name}, "
        f"{report.leaves} leaves, the tree matches every checkpoint up to size "
        f"{report.verified_size}, every instance's chain holds"
        + (
            f"; {report.leaves - report.verified_size} leaves after it are not covered by a "
            "checkpoint yet"
            if report.leaves > report.verified_size
            else ""
        )
    )


@audit_app.command("sequence")
def audit_sequence(
    database_url: DbOption = None,
    full: Annotated[
        bool, typer.Option(help="Look at every event, not only the recent window")
    ] = False,
) -> None:
    """Append committed events not yet in the audit log (the service does it every second)."""
    from powerflow.services.audit import sequencer

    added = sequencer.sequence(_store(_settings(database_url)), full=full)
    typer.echo(f"appended {added} events")


def _signer(settings: Settings):  # type: ignore[no-untyped-def]
    from powerflow.services.audit import keys

    path = (
        Path(settings.audit_key_file)
        if settings.audit_key_file
        else keys.default_key_file(settings.database_url)
    )
    signer, created = keys.load_or_create(path, settings.audit_origin)
    if created:
        typer.echo(f"created the audit log's key in {path}", err=True)
    return signer


@audit_app.command("checkpoint")
def audit_checkpoint(database_url: DbOption = None) -> None:
    """Append what is committed and sign a checkpoint now; print its signed note."""
    from powerflow.services.audit import checkpoints

    settings = _settings(database_url)
    store = _store(settings)
    cp = checkpoints.make(store, _signer(settings))
    typer.echo(cp.note, nl=False)


@audit_app.command("key")
def audit_key(database_url: DbOption = None) -> None:
    """Print the audit log's verifier key (what auditors and witnesses are given)."""
    typer.echo(_signer(_settings(database_url)).verifier.encode())


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="Directory to write (created if missing)")],
    database_url: DbOption = None,
) -> None:
    """Write the audit log's leaves (one event a line, in leaf order) and its checkpoints."""
    from powerflow.services.audit.export import export

    done = export(_store(_settings(database_url)), out)
    typer.echo(f"exported {done.leaves} leaves and {done.checkpoints} checkpoints to {out}")
    if done.missing:
        typer.echo(
            f"WARNING: {done.missing} leaves of the log have no event row any more", err=True
        )


@audit_app.command("witness-key")
def audit_witness_key(
    name: Annotated[str, typer.Option(help="The witness's name, e.g. witness.example/w1")],
    out: Annotated[Path, typer.Option(help="File for the private key (created, mode 0600)")],
) -> None:
    """Create a witness's cosigning key; print its verifier key."""
    import os

    from powerflow.audit_log import note

    try:
        signer = note.Signer.generate(name, note.COSIGNATURE_V1)
    except note.NoteError as exc:
        raise typer.BadParameter(str(exc)) from exc
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.encode() + "\n")
    typer.echo(signer.verifier.encode())


@audit_app.command("cosign")
def audit_cosign(
    key: Annotated[Path, typer.Option(help="The witness's key file ('audit witness-key')")],
    checkpoint: Annotated[Path, typer.Option(help="The checkpoint to cosign (a signed note)")],
    log_key: Annotated[str, typer.Option(help="The log's verifier key (the string or a file)")],
    state: Annotated[
        Path, typer.Option(help="The witness's last cosigned checkpoint (read, then replaced)")
    ],
    proof: Annotated[
        Path | None,
        typer.Option(
            help="The consistency proof from the last cosigned checkpoint to this one (the "
            "JSON of GET /v1/audit/proofs/consistency); not needed the first time"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the cosigned note here")] = None,
) -> None:
    """Cosign a checkpoint offline as a witness: check the log's signature and that the
    checkpoint is consistent with the last one this witness cosigned, then add a cosignature
    (c2sp.org/tlog-cosignature) and remember the checkpoint."""
    import base64
    import time

    from powerflow.audit_log import note, verify_consistency
    from powerflow.audit_log.checkpoint import parse_body

    def fail(why: str) -> None:
        typer.echo(f"REFUSED: {why}", err=True)
        raise typer.Exit(1)

    log = _verifier(log_key)
    witness = note.parse_signer(key.read_text())
    try:
        signed = note.parse(checkpoint.read_text())
        new = parse_body(signed.text)
    except note.NoteError as exc:
        fail(f"the checkpoint cannot be read: {exc}")
        return
    if not signed.signed_by(log) or new.origin != log.name:
        fail(f"the checkpoint is not signed by the log's key {log.name}")
    if state.exists():
        old = parse_body(note.parse(state.read_text()).text)
        if new.size < old.size:
            fail(f"the checkpoint (size {new.size}) is older than the last cosigned ({old.size})")
        if new.size == old.size and new.root != old.root:
            fail(f"FORK: two checkpoints of size {new.size} with different roots")
        if new.size > old.size:
            if proof is None:
                fail(f"a consistency proof from size {old.size} to {new.size} is needed")
                return
            body = json.loads(proof.read_text())
            hashes = [base64.b64decode(h) for h in body["hashes"]]
            if (body.get("from"), body.get("to")) != (old.size, new.size) or not (
                verify_consistency(old.size, new.size, old.root, new.root, hashes)
            ):
                fail(
                    f"the checkpoint of size {new.size} is not consistent with the last "
                    f"cosigned checkpoint of size {old.size}: the log was rewritten"
                )
    cosigned = signed.with_signature(note.signature(signed.text, witness, int(time.time())))
    text = cosigned.encode()
    state.write_text(text)
    if out is not None:
        out.write_text(text)
    else:
        typer.echo(text, nl=False)


archive_app = typer.Typer(
    help="Archive and retention of ended instances (docs/audit.md).", no_args_is_help=True
)
app.add_typer(archive_app, name="archive")


@archive_app.command("run")
def archive_run(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=1,
            help="Days since an instance ended (default: POWERFLOW_ARCHIVE_AFTER_DAYS)",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Only report what would be archived and what is held back")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Instances a transaction")] = 200,
    database_url: DbOption = None,
) -> None:
    """Move ended instances past the retention period out of the live tables into the
    archive, once a signed checkpoint covers their events; print what was held back, why."""
    from powerflow.services.archive import mover

    settings = _settings(database_url)
    days = older_than if older_than is not None else settings.archive_after_days
    if days is None:
        typer.echo(
            "Say how old an instance's end must be: --older-than DAYS, or set "
            "POWERFLOW_ARCHIVE_AFTER_DAYS.",
            err=True,
        )
        raise typer.Exit(2)
    done = mover.run(_store(settings), days, dry_run=dry_run, batch=batch)
    verb = "would archive" if dry_run else "archived"
    typer.echo(
        f"{verb} {len(done.archived)} instances that ended before {done.cutoff:%Y-%m-%d %H:%M} UTC"
    )
    for why, n in done.held.most_common():
        typer.echo(f"held back {n}: {why}")
    for iid, why in done.failed.items():
        typer.echo(f"FAILED: instance {iid}: {why}", err=True)
    if done.failed:
        raise typer.Exit(1)


@archive_app.command("proofs")
def archive_proofs(
    instance_id: str,
    out: Annotated[Path, typer.Option(help="File to write the proof bundle (JSON) to")],
    database_url: DbOption = None,
) -> None:
    """Write an archived instance's events with their inclusion proofs against the newest
    signed checkpoint (the same as GET /v1/archive/instances/{id}/proofs)."""
    from powerflow.services.archive import proofs
    from powerflow.services.auth import Principal
    from powerflow.services.errors import DomainError

    operator = Principal(name="cli", roles=frozenset({"admin"}))
    try:
        bundle = proofs.bundle(_store(_settings(database_url)), operator, instance_id)
    except DomainError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    out.write_text(json.dumps(bundle, indent=1) + "\n")
    typer.echo(
        f"wrote {len(bundle['events'])} events with proofs against tree size "
        f"{bundle['tree_size']} to {out}"
    )


@archive_app.command("verify-proofs")
def archive_verify_proofs(
    bundle: Annotated[Path, typer.Argument(help="A bundle from 'archive proofs' or the API")],
    public_key: Annotated[str, typer.Option(help="The log's verifier key (the string, or a file)")],
) -> None:
    """Check an archived instance's proof bundle with the log's public key alone (no
    database): the checkpoint's signature, the instance's chain, every inclusion proof."""
    from powerflow.audit_log.bundle import verify_bundle

    key = _verifier(public_key)
    try:
        data = json.loads(bundle.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"cannot read the bundle {bundle}: {exc}", err=True)
        raise typer.Exit(2) from None
    report = verify_bundle(data if isinstance(data, dict) else {}, key)
    if not report.ok:
        typer.echo(f"BROKEN: {report.problems[0]}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"verified: {report.events} events of instance {data.get('instance_id')} are in the log "
        f"signed by {key.name} at tree size {report.tree_size}, their chain whole"
    )


stats_app = typer.Typer(help="The statistics (GET /v1/stats/...).", no_args_is_help=True)
app.add_typer(stats_app, name="stats")


@stats_app.command("rebuild")
def stats_rebuild(database_url: DbOption = None) -> None:
    """Forget the statistics and count every recorded event again (for example after a new
    event type was added to the statistics). Run it while the service is stopped, or accept
    that figures read during the rebuild are partial."""
    import time

    from powerflow.services.supervision import statistics

    began = time.perf_counter()
    read = statistics.rebuild(_store(_settings(database_url)))
    took = time.perf_counter() - began
    typer.echo(f"statistics rebuilt: {read} events counted in {took:.1f} s")


class ExportFormat(StrEnum):
    """The formats of ``powerflow export``."""

    xes = "xes"
    ocel = "ocel"


def _aware_time(value: str | None, option: str) -> datetime | None:
    """A time with its offset (as the HTTP API takes it), or None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise typer.BadParameter(
            f"'{value}' is not a time with its offset, such as 2026-03-01T00:00:00+00:00.",
            param_hint=option,
        )
    return moment


@app.command("export")
def export_log(
    format: Annotated[ExportFormat, typer.Argument(help="xes (IEEE 1849) or ocel (OCEL 2.0 JSON)")],
    out: Annotated[Path, typer.Option(help="File to write ('-' for standard output)")],
    definition_key: Annotated[
        str | None, typer.Option(help="Only instances of this process")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Only this version of the process")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Only events at or after this time (with offset)")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Only events before this time (with offset)")
    ] = None,
    instance_id: Annotated[
        list[str] | None, typer.Option(help="Only this instance (repeat for several)")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Write the event log for process-mining tools (PM4Py, ProM, Celonis), streamed: the same
    document as GET /v1/exports/xes or /v1/exports/ocel (docs/audit.md)."""
    import sys

    from powerflow.services import mining
    from powerflow.services.errors import DomainError

    since, until = _aware_time(from_, "--from"), _aware_time(to, "--to")
    store = _store(_settings(database_url))
    try:
        selection = mining.select(
            store,
            definition_key=definition_key,
            version=version,
            since=since,
            until=until,
            instance_ids=instance_id or (),
        )
    except DomainError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    render = mining.xes_log if format is ExportFormat.xes else mining.ocel_log
    written = 0
    with open(sys.stdout.fileno(), "wb", closefd=False) if str(out) == "-" else out.open("wb") as f:
        for chunk in render(store, selection):
            f.write(chunk)
            written += len(chunk)
    if str(out) != "-":
        typer.echo(f"wrote {written} bytes of {format.value} to {out}", err=True)


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write")] = None,
) -> None:
    """Print (or write) the OpenAPI document of the HTTP API."""
    from powerflow.app import create_app

    text = json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


@app.command("events-schema")
def events_schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write")] = None,
) -> None:
    """Print (or write) the JSON Schema of events: the envelope and each type's payload."""
    from powerflow.api.event_schema import events_json_schema

    text = json.dumps(events_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        typer.echo(text, nl=False)


def main() -> None:
    """Entry point of the console script: database failures are one sentence, exit status 2."""
    from sqlalchemy.exc import SQLAlchemyError

    from powerflow.db.engine import DatabaseBusy

    try:
        app()
    except DatabaseUnavailable as exc:
        typer.echo(f"powerflow: {exc}", err=True)
        raise SystemExit(2) from None
    except (SQLAlchemyError, DatabaseBusy) as exc:
        problem = database_problem(_USED.get("database_url", "?"), exc)
        typer.echo(f"powerflow: {problem}", err=True)
        raise SystemExit(2) from None
