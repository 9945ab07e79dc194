"""First-start work: schema upgrade, the admin account, the bundled example processes."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from sqlalchemy import select

from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import Deployment
from powerflow.services import auth, definitions
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError
from powerflow.settings import Settings

log = logging.getLogger("powerflow")
SYSTEM = Principal(name="system", roles=frozenset({"admin", "designer", "clerk"}))


def examples_dir() -> Path | None:
    """The bundled example processes: inside the wheel, else the source tree's processes/."""
    packaged = Path(str(resources.files("powerflow"))) / "_processes"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "processes"
    return source if source.is_dir() else None


def deploy_examples(store: Store, settings: Settings) -> list[str]:
    """Deploy every example BPMN file when no definition has been deployed yet."""
    with store.read() as session:
        if session.scalar(select(Deployment.id).limit(1)) is not None:
            return []
    folder = examples_dir()
    if folder is None:
        return []
    deployed: list[str] = []
    for path in sorted(folder.glob("*.bpmn")):
        try:
            outcome = definitions.deploy(
                store, path.read_bytes(), path.name, SYSTEM, max_bytes=settings.max_upload_bytes
            )
        except DomainError as exc:
            log.warning("example %s was not deployed: %s", path.name, exc.message)
            continue
        deployed.extend(f"{d.key} v{d.version}" for d in outcome.definitions)
    return deployed


def prepare(store: Store, settings: Settings) -> str | None:
    """Upgrade the schema and create the admin; return a newly generated admin token, if any."""
    migrate.upgrade(store.engine)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return auth.ensure_admin(store, admin_token)
