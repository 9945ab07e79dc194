"""Signed notes, checkpoints and cosignatures of the pure library."""

from __future__ import annotations

import base64

import pytest

from powerflow.audit_log import note
from powerflow.audit_log.checkpoint import Checkpoint, parse_body


def test_go_note_vector_verifies() -> None:
    # golang.org/x/mod/sumdb/note's documented example key and signed note
    verifier = note.parse_verifier(
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    signed = note.parse(
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
        "\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
        "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    signer = note.parse_signer(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    )
    assert signer.verifier == verifier
    assert note.sign(signed.text, signer).encode() == signed.encode()  # byte for byte
    assert signed.signed_by(verifier)
    assert verifier.id == 0xC74F20A3
    tampered = note.Note(signed.text.replace("answer", "answers"), signed.signatures)
    assert not tampered.signed_by(verifier)


def test_sign_and_verify_roundtrip() -> None:
    signer = note.Signer.generate("log.example/powerflow")
    again = note.parse_signer(signer.encode())
    assert again == signer
    verifier = note.parse_verifier(signer.verifier.encode())
    body = Checkpoint("log.example/powerflow", 5, b"\x01" * 32).body()
    signed = note.sign(body, signer)
    parsed = note.parse(signed.encode())
    assert parsed == signed and parsed.signed_by(verifier)
    cp = parse_body(parsed.text)
    assert (cp.origin, cp.size, cp.root) == ("log.example/powerflow", 5, b"\x01" * 32)
    other = note.Signer.generate("log.example/powerflow")
    assert not parsed.signed_by(other.verifier)  # an unknown key: no line of it


def test_cosignature() -> None:
    log = note.Signer.generate("log.example/powerflow")
    witness = note.Signer.generate("witness.example/w1", note.COSIGNATURE_V1)
    body = Checkpoint("log.example/powerflow", 7, b"\x02" * 32).body()
    signed = note.sign(body, log)
    cosigned = signed.with_signature(note.signature(body, witness, 1_700_000_000))
    parsed = note.parse(cosigned.encode())
    assert parsed.signed_by(log.verifier) and parsed.signed_by(witness.verifier)
    line = parsed.signatures[1]
    assert base64.b64encode(line.sig[:8]) and int.from_bytes(line.sig[:8], "big") == 1700000000
    # the log's own key does not pass for the witness (type 0x04 has another key id)
    as_log = note.Verifier(witness.name, note.ED25519, witness.verifier.public)
    assert not parsed.signed_by(as_log)
    with pytest.raises(note.NoteError, match="timestamp"):
        note.signature(body, witness)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no signatures\n", "blank line"),
        ("a\n\nnot a line\n", "not a signature line"),
        ("a\n\n\u2014 k !!!\n", "base64"),
        ("a\x01\n\n\u2014 k AAAAAAA=\n", "control"),
    ],
)
def test_malformed_notes(text: str, why: str) -> None:
    with pytest.raises(note.NoteError, match=why):
        note.parse(text)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("origin\n5\n", "origin line, a tree size"),
        ("origin\n05\n" + base64.b64encode(b"x" * 32).decode() + "\n", "decimal"),
        ("origin\n5\nAAAA\n", "32 bytes"),
    ],
)
def test_malformed_checkpoints(body: str, why: str) -> None:
    with pytest.raises(note.NoteError, match=why):
        parse_body(body)


def test_bad_keys() -> None:
    with pytest.raises(note.NoteError, match="id does not match"):
        note.parse_verifier("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(note.NoteError, match="PRIVATE"):
        note.parse_signer("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(note.NoteError, match="spaces"):
        note.Signer.generate("bad name")


def test_keys_of_transparency_dev_formats_read() -> None:
    """Verifier keys from transparency-dev/formats' tests: a cosignature/v1 key (type 0x04)
    and an Ed25519 key whose base64 holds a '+'; their ids match their names and keys."""
    witness = note.parse_verifier(
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    )
    assert witness.kind == note.COSIGNATURE_V1 and witness.id == 0xDA77ADE7
    plus = note.parse_verifier("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert plus.kind == note.ED25519 and plus.encode().endswith(
        "AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    )
    # a cosignature line's timestamp (formats' TestCoSigV1Timestamp): 8 bytes after the key id
    blob = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFi"
        "EBYJXORmnFBOBA=="
    )
    assert int.from_bytes(blob[4:12], "big") == 1727964367 and len(blob) == 4 + 8 + 64
