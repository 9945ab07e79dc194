"""The pure Merkle library against a naive RFC 6962 implementation written from the RFC text."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powerflow.audit_log import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from powerflow.audit_log.tree import Coord


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 defines it, recursively."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = _k(len(leaves))
    return _h(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 6962 section 2.1.1."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 6962 section 2.1.2."""
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def leaves_of(n: int, salt: int = 0) -> list[bytes]:
    return [f"leaf {salt} {i}".encode() for i in range(n)]


class Store:
    """Every complete aligned subtree of a tree, as the database keeps them; counts reads."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes: dict[Coord, bytes] = {}
        self.compact = CompactRange()
        for leaf in leaves:
            for level, index, h in self.compact.append(leaf_hash(leaf)):
                self.nodes[(level, index)] = h
        self.reads = 0
        self.calls = 0

    def __call__(self, coords: Sequence[Coord]) -> Mapping[Coord, bytes]:
        self.calls += 1
        self.reads += len(coords)
        return {c: self.nodes[c] for c in coords}


BIG = leaves_of(300)
BIG_STORE = Store(BIG)
NAIVE_ROOTS = [naive_mth(BIG[:n]) for n in range(301)]


def test_known_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_of([]) == EMPTY_ROOT
    assert root_of([leaf_hash(b"")]) == _h(b"\x00")
    # the root of the first 8 leaves of RFC 6962's Go reference test data
    # (transparency-dev/merkle testonly): leaves "", 00, 10, 2021, 3031, 40414243, ...
    inputs = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ]
    assert (
        root_of([leaf_hash(x) for x in inputs]).hex()
        == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def test_roots_of_every_size_up_to_300() -> None:
    compact = CompactRange()
    for n in range(301):
        assert compact.root() == NAIVE_ROOTS[n] == root_of([leaf_hash(x) for x in BIG[:n]])
        if n < 300:
            compact.append(leaf_hash(BIG[n]))
        # the edge alone restores the tree's state
        restored = CompactRange(compact.size, list(compact.edge))
        assert restored.root() == compact.root()


def test_every_inclusion_proof_up_to_64() -> None:
    for n in range(1, 65):
        leaves = BIG[:n]
        store = Store(leaves)
        for m in range(n):
            proof = inclusion_proof(m, n, store)
            assert proof == naive_path(m, leaves)
            assert verify_inclusion(leaf_hash(leaves[m]), m, n, proof, NAIVE_ROOTS[n])


def test_every_consistency_proof_up_to_64() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, BIG_STORE)
            assert proof == naive_subproof(m, BIG[:n], True)
            assert verify_consistency(m, n, NAIVE_ROOTS[m], NAIVE_ROOTS[n], proof)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_inclusion_random(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300))
    m = data.draw(st.integers(0, n - 1))
    BIG_STORE.reads = BIG_STORE.calls = 0
    proof = inclusion_proof(m, n, BIG_STORE)
    assert BIG_STORE.calls == (1 if n > 1 else 0)  # one fetch
    assert BIG_STORE.reads <= 2 * n.bit_length()  # O(log n) stored hashes
    assert proof == naive_path(m, BIG[:n])
    leaf = leaf_hash(BIG[m])
    root = NAIVE_ROOTS[n]
    assert verify_inclusion(leaf, m, n, proof, root)
    # any change makes it fail
    assert not verify_inclusion(leaf_hash(b"other"), m, n, proof, root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != m))
        assert not verify_inclusion(leaf, other, n, proof, root)
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = _h(bad[i])
        assert not verify_inclusion(leaf, m, n, bad, root)
        assert not verify_inclusion(leaf, m, n, proof[:-1], root)
        assert not verify_inclusion(leaf, m, n, [*proof, proof[0]], root)
    if n < 300:  # the proof for n leaves does not prove inclusion in the tree of n + 1
        assert not verify_inclusion(leaf, m, n + 1, proof, NAIVE_ROOTS[n + 1])
    assert not verify_inclusion(leaf, m, n, proof, NAIVE_ROOTS[n - 1])
    assert not verify_inclusion(leaf, n, n, proof, root)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_consistency_random(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 300))
    m = data.draw(st.integers(1, n))
    BIG_STORE.reads = BIG_STORE.calls = 0
    proof = consistency_proof(m, n, BIG_STORE)
    assert BIG_STORE.reads <= 2 * n.bit_length()
    assert proof == naive_subproof(m, BIG[:n], True)
    first, second = NAIVE_ROOTS[m], NAIVE_ROOTS[n]
    assert verify_consistency(m, n, first, second, proof)
    if m < n:
        assert not verify_consistency(m, n, _h(first), second, proof)
        assert not verify_consistency(m, n, first, _h(second), proof)
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = _h(bad[i])
        assert not verify_consistency(m, n, first, second, bad)
        assert not verify_consistency(m, n, first, second, proof[:-1])
        # a forked tree of the same size (one leaf different) is not consistent
        forked = list(BIG[:n])
        j = data.draw(st.integers(0, m - 1))
        forked[j] = b"forged"
        assert not verify_consistency(m, n, first, naive_mth(forked), proof)
        if m + 1 < n:
            assert not verify_consistency(m + 1, n, first, second, proof)
    assert not verify_consistency(n, m, second, first, proof) or m == n


def test_edge_cases() -> None:
    assert consistency_proof(0, 5, BIG_STORE) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, NAIVE_ROOTS[5], [])
    assert not verify_consistency(3, 3, NAIVE_ROOTS[3], NAIVE_ROOTS[4], [])
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(5, 5, BIG_STORE)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(6, 5, BIG_STORE)
    with pytest.raises(ValueError, match="edge hashes"):
        CompactRange(3, [b"x"])
