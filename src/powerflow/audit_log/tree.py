"""RFC 6962 / RFC 9162 Merkle tree: hashing, proofs from stored subtrees, verification.

Leaves are hashed ``SHA-256(0x00 || leaf)`` and interior nodes ``SHA-256(0x01 || left ||
right)``; a tree of ``n`` leaves splits at the largest power of two below ``n``. A *complete
aligned subtree* ``(level, index)`` covers the ``2**level`` leaves from ``index * 2**level``;
it is the unit the store keeps, so any proof is assembled from O(log n) of them: a proof is
first planned as the coordinates it needs, fetched in one call of a :data:`NodeSource`, then
folded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

Coord = tuple[int, int]
"""(level, index): the complete subtree of leaves [index * 2**level, (index + 1) * 2**level)."""

NodeSource = Callable[[Sequence[Coord]], Mapping[Coord, bytes]]
"""Returns the hash of each requested complete aligned subtree (level 0: the leaf hashes)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 section 2.1.1)."""


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root of a tree over the given leaf hashes (linear time, no recursion)."""
    compact = CompactRange()
    for h in leaf_hashes:
        compact.append(h)
    return compact.root()


def _pieces(start: int, end: int) -> list[Coord]:
    """The complete aligned subtrees that make up [start, end), largest first.

    ``start`` must be a multiple of the smallest power of two >= end - start, which holds for
    every range that RFC 6962's recursion produces.
    """
    out: list[Coord] = []
    pos = start
    size = end - start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from its pieces (largest first): right to left."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(source: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from stored subtrees (``start`` aligned as RFC 6962 splits it)."""
    if end <= start:
        raise ValueError("empty range")
    coords = _pieces(start, end)
    got = source(coords)
    return _fold([got[c] for c in coords])


def _path_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form the inclusion proof of leaf ``index`` in [start, end)."""
    out: list[tuple[int, int]] = []
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
    out.reverse()  # leaf to root
    return out


def _consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form the consistency proof from size ``m`` to ``n``."""
    out: list[tuple[int, int]] = []
    start, end, whole = 0, n, True
    while True:
        size = end - start
        if m - start == size:
            if not whole:
                out.append((start, end))
            break
        k = _split(size)
        if m - start <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start += k
            whole = False
    out.reverse()
    return out


def _resolve(source: NodeSource, ranges: list[tuple[int, int]]) -> list[bytes]:
    """Hashes of the ranges, fetching every needed subtree in one call of ``source``."""
    plans = [_pieces(a, b) for a, b in ranges]
    wanted = list(dict.fromkeys(c for plan in plans for c in plan))
    got = source(wanted) if wanted else {}
    return [_fold([got[c] for c in plan]) for plan in plans]


def inclusion_proof(index: int, size: int, source: NodeSource) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    return _resolve(source, _path_ranges(index, 0, size))


def consistency_proof(first: int, second: int, source: NodeSource) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``
    (RFC 6962 PROOF); empty when ``first`` is 0 or equals ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    return _resolve(source, _consistency_ranges(first, second))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under
    ``root`` of a tree of ``size`` leaves?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of ``first`` leaves with ``first_root`` a prefix
    of the tree of ``second`` leaves with ``second_root``?"""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first root is a node of both
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class CompactRange:
    """The right edge of a growing tree: one hash per set bit of its size.

    ``append`` returns every complete aligned subtree the new leaf completes (the leaf itself
    at level 0 included), which is what the store keeps; ``root`` folds the edge.
    """

    def __init__(self, size: int = 0, edge: Iterable[bytes] = ()) -> None:
        self.size = size
        self.edge = list(edge)  # hashes of _pieces(0, size), largest first
        if len(self.edge) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} edge hashes")

    @staticmethod
    def coords(size: int) -> list[Coord]:
        """The subtrees whose hashes form the edge of a tree of ``size`` leaves."""
        return _pieces(0, size)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the (level, index, hash) of each subtree it completes."""
        index = self.size
        made = [(0, index, leaf)]
        h = leaf
        level = 0
        while (index >> level) & 1:  # a full left sibling at this level: merge
            h = node_hash(self.edge.pop(), h)
            level += 1
            made.append((level, index >> level, h))
        self.edge.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        """The root of the tree so far (the empty tree's root when there is no leaf)."""
        if not self.edge:
            return EMPTY_ROOT
        return _fold(self.edge)
