"""C2SP signed notes (c2sp.org/signed-note, golang.org/x/mod/sumdb/note) with Ed25519 keys, and
C2SP Ed25519 cosignatures (c2sp.org/tlog-cosignature, ``cosignature/v1``).

Key strings are those of golang.org/x/mod/sumdb/note, so Go tools read them:

- verifier key: ``<name>+<key id, 8 hex digits>+<base64(type || 32-byte public key)>``
- signer key: ``PRIVATE+KEY+<name>+<key id>+<base64(type || 32-byte seed)>``

with type 0x01 for a log's signature over the note text and 0x04 for a witness's timestamped
cosignature. The key id is ``SHA-256(name || 0x0A || type || public key)[:4]``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
_TYPES = {ED25519, COSIGNATURE_V1}
DASH = "\u2014"


class NoteError(ValueError):
    """A key or note that cannot be read, with a sentence saying why."""


def key_id(name: str, kind: int, public: bytes) -> int:
    """SHA-256(name || "\\n" || type || public key)[:4] as a big-endian number."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures of one name and type."""

    name: str
    kind: int
    public: bytes

    @property
    def id(self) -> int:
        """The 32-bit key id."""
        return key_id(self.name, self.kind, self.public)

    def encode(self) -> str:
        """The verifier key string."""
        raw = base64.b64encode(bytes([self.kind]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{raw}"

    def _key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public)

    def verify(self, text: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (without the key id) is this key's signature of note ``text``."""
        try:
            if self.kind == ED25519:
                self._key().verify(sig, text)
                return True
            if len(sig) != 8 + 64:
                return False
            (stamp,) = struct.unpack(">Q", sig[:8])
            self._key().verify(sig[8:], cosigned_message(text, stamp))
            return True
        except InvalidSignature:
            return False


@dataclass(frozen=True)
class Signer:
    """A private key with its name and type."""

    name: str
    kind: int
    seed: bytes

    @classmethod
    def generate(cls, name: str, kind: int = ED25519) -> Signer:
        """A new random key."""
        _check_name(name)
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )
        return cls(name, kind, raw)

    def _key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> Verifier:
        """The matching public key."""
        public = self._key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.kind, public)

    def encode(self) -> str:
        """The signer key string (secret: keep it in a file only its owner can read)."""
        raw = base64.b64encode(bytes([self.kind]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id:08x}+{raw}"

    def sign(self, text: bytes, timestamp: int | None = None) -> bytes:
        """The signature of note ``text`` (for a cosignature: timestamp || signature)."""
        if self.kind == ED25519:
            return self._key().sign(text)
        if timestamp is None or not 0 <= timestamp < 2**63:
            raise NoteError("a cosignature needs a timestamp (seconds since the epoch)")
        return struct.pack(">Q", timestamp) + self._key().sign(cosigned_message(text, timestamp))


def _decode_key(text: str, private: bool) -> tuple[str, int, int, bytes]:
    parts = text.strip().split("+", 4 if private else 2)  # base64 may hold '+'
    if private:
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key reads PRIVATE+KEY+<name>+<key id>+<base64 key>")
        parts = parts[2:]
    elif len(parts) != 3:
        raise NoteError("a verifier key reads <name>+<key id>+<base64 key>")
    name, hex_id, b64 = parts
    _check_name(name)
    try:
        kid = int(hex_id, 16)
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise NoteError("the key id must be 8 hex digits and the key base64") from exc
    if len(hex_id) != 8 or len(raw) != 33 or raw[0] not in _TYPES:
        raise NoteError("the key is not an Ed25519 key of type 0x01 or 0x04")
    return name, kid, raw[0], raw[1:]


def parse_verifier(text: str) -> Verifier:
    """Read a verifier key string; NoteError if it is malformed or its id does not match."""
    name, kid, kind, public = _decode_key(text, private=False)
    v = Verifier(name, kind, public)
    if v.id != kid:
        raise NoteError("the verifier key's id does not match its name and public key")
    return v


def parse_signer(text: str) -> Signer:
    """Read a signer key string; NoteError if it is malformed or its id does not match."""
    name, kid, kind, seed = _decode_key(text, private=True)
    s = Signer(name, kind, seed)
    if s.verifier.id != kid:
        raise NoteError("the signer key's id does not match its name and key")
    return s


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header, the time and the checkpoint's note text."""
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    id: int
    sig: bytes

    def line(self) -> str:
        """The line, without its newline."""
        raw = base64.b64encode(self.id.to_bytes(4, "big") + self.sig).decode()
        return f"{DASH} {self.name} {raw}"


@dataclass(frozen=True)
class Note:
    """A note's text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        """The signed note as text."""
        return self.text + "\n" + "".join(s.line() + "\n" for s in self.signatures)

    def signed_by(self, verifier: Verifier) -> bool:
        """Whether a signature line of ``verifier``'s name and id verifies (lines of other
        keys are ignored; a line of this key that does not verify makes this False)."""
        mine = [s for s in self.signatures if s.name == verifier.name and s.id == verifier.id]
        return bool(mine) and all(verifier.verify(self.text.encode(), s.sig) for s in mine)

    def with_signature(self, signature: Signature) -> Note:
        """The note with one more signature line (replacing one of the same key)."""
        kept = tuple(s for s in self.signatures if (s.name, s.id) != (signature.name, signature.id))
        return Note(self.text, (*kept, signature))


def sign(text: str, signer: Signer, timestamp: int | None = None) -> Note:
    """A note of ``text`` signed by ``signer``."""
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    return Note(text, (signature(text, signer, timestamp),))


def signature(text: str, signer: Signer, timestamp: int | None = None) -> Signature:
    """One signature line of ``signer`` over note ``text``."""
    return Signature(signer.name, signer.verifier.id, signer.sign(text.encode(), timestamp))


MAX_NOTE = 1 << 16


def parse(raw: str) -> Note:
    """Split a signed note into text and signature lines; NoteError if it is malformed."""
    if len(raw) > MAX_NOTE:
        raise NoteError("the note is larger than 64 KiB")
    if any(ord(c) < 0x20 and c != "\n" for c in raw):
        raise NoteError("a note holds no control characters other than newline")
    cut = raw.rfind("\n\n")
    if cut < 0 or not raw.endswith("\n"):
        raise NoteError("a signed note is text, a blank line, then signature lines")
    text, lines = raw[: cut + 1], raw[cut + 2 :].splitlines()
    sigs = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"not a signature line: {line[:80]!r}")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error as exc:
            raise NoteError("a signature is not base64") from exc
        if len(blob) < 5:
            raise NoteError("a signature is too short")
        sigs.append(Signature(parts[1], int.from_bytes(blob[:4], "big"), blob[4:]))
    if not sigs:
        raise NoteError("the note has no signature")
    return Note(text, tuple(sigs))
