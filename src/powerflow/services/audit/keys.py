"""The log's signing key: a C2SP signer key string in a file only its owner can read."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from powerflow.audit_log import note

log = logging.getLogger("powerflow.audit")


def default_key_file(database_url: str) -> Path:
    """Beside a SQLite database file (``<file>.audit-key``); for other databases a file per
    database in ``~/.local/share/powerflow``."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        return Path(database_url.removeprefix("sqlite:///") + ".audit-key")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:12]
    return Path.home() / ".local" / "share" / "powerflow" / f"audit-{digest}.key"


def load_or_create(path: Path, origin: str | None = None) -> tuple[note.Signer, bool]:
    """The signer in ``path``, created (mode 0600) with a new key named ``origin`` if the file
    is missing; True when it was created. The key's name is the checkpoints' origin line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        signer = note.Signer.generate(origin or f"powerflow.invalid/log-{secrets.token_hex(4)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(signer.encode() + "\n")
        try:
            os.link(temp, path)  # whole or not at all; never over a key another process made
        except FileExistsError:
            return load_or_create(path, origin)
        finally:
            temp.unlink()
        return signer, True
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("audit key file %s can be read by others than its owner (chmod 600 it)", path)
    try:
        signer = note.parse_signer(text)
    except note.NoteError as exc:
        raise ValueError(f"the audit key file {path} is not a signer key: {exc}") from exc
    if signer.kind != note.ED25519:
        raise ValueError(f"the audit key file {path} holds a witness key, not a log key")
    return signer, False
