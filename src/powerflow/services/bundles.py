"""Reading a bundle upload: several files, or one zip archive, hardened against bombs.

A zip is read in memory and never written to disk; still, every entry name must be a plain
relative path (no absolute path, no ``..``, no drive letter), entries must be stored or deflated
and not encrypted, their number is capped, and each entry is read only up to the per-file limit
and all of them up to the bundle limit, counting the bytes actually inflated (the sizes an
archive declares are not trusted).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from powerflow.services.deployment import Upload
from powerflow.services.errors import InvalidInput, PayloadTooLarge

MODEL_SUFFIXES = (".bpmn", ".bpmn20.xml", ".xml", ".dmn")
_SKIPPED = ("__MACOSX/",)


@dataclass(frozen=True)
class BundleLimits:
    """The caps of one upload: files, bytes per file, bytes in all (unzipped)."""

    max_files: int
    max_file_bytes: int
    max_total_bytes: int


def is_zip(data: bytes, filename: str, content_type: str = "") -> bool:
    """Whether an uploaded part or body is a zip archive (by type, name or signature)."""
    return (
        content_type in ("application/zip", "application/x-zip-compressed")
        or filename.lower().endswith(".zip")
        or data[:4] == b"PK\x03\x04"
    )


def unzip(data: bytes, name: str, limits: BundleLimits, used: int = 0) -> list[Upload]:
    """The model files of a zip archive; refuses what is unsafe or beyond the limits (``used``:
    the bytes the upload's earlier parts already hold, counted against the bundle limit)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise InvalidInput(f"{name} is not a readable zip archive.", file=name) from None
    files = [
        e
        for e in entries
        if not e.is_dir()
        and not e.filename.startswith(_SKIPPED)
        and not PurePosixPath(e.filename).name.startswith(".")
    ]
    if len(files) > limits.max_files:
        raise PayloadTooLarge(
            f"{name} holds {len(files)} files; an upload may hold at most {limits.max_files}.",
            file=name,
        )
    if not files:
        raise InvalidInput(f"{name} holds no file to deploy.", file=name)
    out: list[Upload] = []
    total = used
    for entry in files:
        path = _safe_name(entry.filename, name)
        if entry.flag_bits & 0x1:
            raise InvalidInput(f"{name}: {path} is encrypted; upload it unencrypted.", file=name)
        if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InvalidInput(
                f"{name}: {path} is compressed with a method powerflow does not read; "
                "use a plain (deflate) zip.",
                file=name,
            )
        if not path.lower().endswith(MODEL_SUFFIXES):
            raise InvalidInput(
                f"{name}: {path} is not a model file; a bundle holds .bpmn, .bpmn20.xml, .xml "
                "and .dmn files only.",
                file=name,
            )
        content = _read_capped(archive, entry, path, name, limits, total)
        total += len(content)
        out.append(Upload(path, content))
    return out


def _safe_name(raw: str, archive: str) -> str:
    """An entry name as a plain relative path, or InvalidInput (path traversal)."""
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or ".." in parts
        or (len(parts[0]) == 2 and parts[0][1] == ":")
        or "\x00" in name
    ):
        raise InvalidInput(
            f"{archive}: the entry '{raw[:200]}' is not a plain relative path (absolute paths "
            "and '..' are refused).",
            file=archive,
        )
    return name[:255]


def _read_capped(
    archive: zipfile.ZipFile,
    entry: zipfile.ZipInfo,
    path: str,
    name: str,
    limits: BundleLimits,
    total: int,
) -> bytes:
    """An entry's bytes, inflating at most what the limits allow."""
    allowed = max(0, min(limits.max_file_bytes, limits.max_total_bytes - total))
    try:
        with archive.open(entry) as stream:
            content = stream.read(allowed + 1)
    except (zipfile.BadZipFile, RuntimeError, ValueError, OSError, EOFError) as exc:
        raise InvalidInput(f"{name}: {path} cannot be read ({exc}).", file=name) from None
    if len(content) > allowed:
        if allowed < limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{name} unzips to more than {limits.max_total_bytes} bytes; the limit of one "
                "bundle.",
                file=name,
            )
        raise PayloadTooLarge(
            f"{name}: {path} unzips to more than {limits.max_file_bytes} bytes; the limit of "
            "one file.",
            file=name,
        )
    return content


def bundle_of(parts: list[tuple[bytes, str, str]], limits: BundleLimits) -> list[Upload]:
    """The files of an upload's parts (data, filename, content type): zips unpacked, the
    counts and sizes checked against the limits."""
    files: list[Upload] = []
    for data, filename, content_type in parts:
        if is_zip(data, filename, content_type):  # inflated within what the parts before left
            files.extend(unzip(data, filename, limits, sum(len(f.data) for f in files)))
        else:
            files.append(Upload(filename[:255], data))
    if len(files) > limits.max_files:
        raise PayloadTooLarge(
            f"The upload holds {len(files)} files; the limit is {limits.max_files}."
        )
    total = sum(len(f.data) for f in files)
    if total > limits.max_total_bytes:
        raise PayloadTooLarge(
            f"The upload holds {total} bytes in all; the limit is {limits.max_total_bytes}."
        )
    return files
