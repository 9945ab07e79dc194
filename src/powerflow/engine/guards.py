"""Guards that keep one script from using more than its step's CPU and memory budget.

The compile-time pass (``engine.instrument``) routes the operators that can build huge values in
one go (``**``, ``*``, ``<<``, ``+``, ``%``, f-string format specs, starred displays) through the
guard functions here, which estimate the result before computing it. The guarded attribute
lookup does the same for the size-taking methods of ``str``, ``list.extend``, ``strftime`` and
``string.Template``; ``math``, ``random``, ``pow``, ``round``, ``sum``, ``print`` and calls of
``str``, ``repr``, ``list``, ``tuple``, ``set``, ``frozenset`` and ``sorted`` get guarded
equivalents.

Besides the byte estimate, no single guarded operation may build a container of more than
``MAX_BUILD_ITEMS`` items (the bound saved state has): ``*``, ``+``, ``list.extend``, starred
displays, ``list/tuple/set/frozenset/dict/sorted`` of a sized source (or of
``map``/``filter``/``reversed``/``enumerate`` over one: their length is estimated from the
source's), ``min/max/sum/any/all`` over one, ``str.join``, ``list.sort``, ``dict.fromkeys``,
``random.shuffle/sample/choices``. A built-in call on at most that many items takes at most a
few tenths of a second, and the next tick (before the next statement) notices the time spent.

A refusal goes through the step budget (``engine.limits``), so it is sticky and becomes an
incident naming the element and the limit.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import operator
import random
import re
import string
import types
from collections.abc import Callable, Iterable
from typing import Any

from RestrictedPython import PrintCollector  # type: ignore[attr-defined]
from RestrictedPython.Guards import safer_getattr

from powerflow.engine.limits import SMALL_BYTES, current_budget

MAX_INT_BITS = 100_000  # about 30,000 decimal digits; multiplying or dividing stays < 10 ms
MAX_POW_MOD_BITS = 2048  # pow(a, b, m): exponent and modulus
MAX_WALK_NODES = 1_000_000  # values formatted or saved: items visited at most
MAX_BUILD_ITEMS = MAX_WALK_NODES  # items one guarded operation may build or walk


def _too_big_int(bits: int) -> None:
    current_budget().refuse(
        f"would compute an integer of about {bits:,} bits; scripts are limited to "
        f"{MAX_INT_BITS:,} bits (numbers that large take minutes of CPU)"
    )


def _items(source: Any) -> int:
    """How many items iterating ``source`` gives (its length, or its length hint; 0 if unknown:
    generators written in a script tick on every item)."""
    if isinstance(source, _LAZY):
        return source.items_hint
    try:
        return len(source)
    except TypeError:
        return operator.length_hint(source, 0)


def _cap(items: int) -> None:
    """Refuse an operation that would build or walk more than MAX_BUILD_ITEMS items."""
    if items > MAX_BUILD_ITEMS:
        current_budget().refuse(
            f"would build or walk {items:,} items in one operation; scripts are limited to "
            f"{MAX_BUILD_ITEMS:,} items per operation (as saved task data is)"
        )


def _charge(nbytes: int) -> None:
    if nbytes > SMALL_BYTES:
        current_budget().charge(nbytes)


def _unit(*parts: object) -> int:
    """Bytes per character of a string built from these parts (1 if all ASCII, else 4)."""
    for p in parts:
        if isinstance(p, str) and not p.isascii():
            return 4
    return 1


def _seq_bytes(seq: object, times: int) -> int:
    """The approximate size of ``seq * times``."""
    if isinstance(seq, str):
        return len(seq) * times * _unit(seq)
    if isinstance(seq, bytes | bytearray):
        return len(seq) * times
    return len(seq) * times * 8  # type: ignore[arg-type]


_SEQUENCES = (str, list, tuple, bytes, bytearray)


def _is_int(x: object) -> bool:
    return isinstance(x, int)


def guarded_mul(a: Any, b: Any) -> Any:
    """``a * b`` with integer-size and repetition-size checks."""
    if type(a) is int and type(b) is int:
        bits = a.bit_length() + b.bit_length()
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
        return a * b
    seq, count = (a, b) if isinstance(a, _SEQUENCES) else (b, a)  # repetition commutes
    if isinstance(seq, _SEQUENCES) and hasattr(count, "__index__"):
        n = operator.index(count)
        _charge(_seq_bytes(seq, n))
        if isinstance(seq, list | tuple):
            _cap(len(seq) * n)
        return seq * n
    if _is_int(a) and _is_int(b):
        bits = int(a).bit_length() + int(b).bit_length()
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
    return a * b


def guarded_pow(a: Any, b: Any) -> Any:
    """``a ** b`` refusing integer results beyond MAX_INT_BITS (``9**9**9``)."""
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
        bits = int(int(b) * math.log2(abs(int(a))))
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
    return a**b


def guarded_lshift(a: Any, b: Any) -> Any:
    """``a << b`` refusing integer results beyond MAX_INT_BITS."""
    if _is_int(a) and _is_int(b) and a != 0 and b > 0:
        bits = int(a).bit_length() + int(b)
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
    return a << b


def guarded_add(a: Any, b: Any) -> Any:
    """``a + b`` charging the size of concatenated sequences (``s = s + s`` doubling)."""
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _charge(_seq_bytes(a, 1) + _seq_bytes(b, 1) + (3 * len(a) if _unit(b) > _unit(a) else 0))
        if isinstance(a, list | tuple):
            _cap(len(a) + len(b))
    return a + b


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_width(width: int, unit: int = 4) -> None:
    _charge(width * unit)


def guarded_mod(a: Any, b: Any) -> Any:
    """``a % b``; for ``str % args`` the widths and precisions are checked first."""
    if isinstance(a, str):
        star = False
        for m in _PERCENT_SPEC.finditer(a):
            for part in m.groups():
                if part == "*":
                    star = True
                elif part:
                    _check_width(int(part))
        args = b if isinstance(b, tuple) else (b,)
        if star:
            for arg in args:
                if _is_int(arg):
                    _check_width(int(arg))
        for arg in args:
            _walk_size(arg)
        result = a % b
        _charge(len(result) * 4)
        return result
    return a % b


_FSTRING_CONVERSIONS: dict[int, Callable[[Any], str]] = {
    ord("s"): str,
    ord("r"): repr,
    ord("a"): ascii,
}


def guarded_format(value: Any, spec: str, conversion: int) -> str:
    """An f-string field with a format spec (``f"{x:>{n}}"``): widths are checked first."""
    _walk_size(value)
    convert = _FSTRING_CONVERSIONS.get(conversion)
    if convert is not None:
        value = convert(value)
    for digits in _DIGITS.findall(spec):
        _check_width(int(digits))
    if isinstance(value, _DATES):
        _charge(len(spec) * 12 * 4)  # a date's spec is a strftime format
    return format(value, spec)


def guarded_display(kind: str, *parts: Any) -> Any:
    """A list, tuple or set display with starred items (``[*l, x, *l]``): the items are counted
    (and charged) before it is built."""
    items = sum(_items(p) for p in parts)
    _charge(items * 8)
    _cap(items)
    chained = itertools.chain.from_iterable(parts)
    return list(chained) if kind == "list" else tuple(chained) if kind == "tuple" else set(chained)


def guarded_value(value: Any) -> Any:
    """Charge a value already built by a display or an f-string (``f"{s}{s}"``, ``[*l, *l]``)."""
    if isinstance(value, _SEQUENCES):
        _charge(_seq_bytes(value, 1))
    return value


def guarded_inplacevar(op: str, x: Any, y: Any) -> Any:
    """Augmented assignment of names (``n += 1``), through the same guards as the operators."""
    if op not in _INPLACE:
        raise ValueError(f"The operator {op} is not allowed in scripts.")
    return _INPLACE[op](x, y)


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": guarded_add,
    "-=": operator.sub,
    "*=": guarded_mul,
    "/=": operator.truediv,
    "//=": operator.floordiv,
    "%=": guarded_mod,
    "**=": guarded_pow,
    "|=": operator.or_,
    "&=": operator.and_,
    "^=": operator.xor,
    "<<=": guarded_lshift,
    ">>=": operator.rshift,
}


def _walk_size(value: Any) -> int:
    """Roughly how many bytes ``str(value)`` takes; walks containers (checking the budget), so
    formatting a huge or self-similar structure is refused before it is built."""
    if isinstance(value, str | int | float | bool) or value is None:
        return 0
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 0
    budget = current_budget()
    size = 0
    seen = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen % 1000 == 0:
            budget.check()
            if seen > MAX_WALK_NODES:
                break
        if isinstance(item, str):
            size += (len(item) + 4) * (1 if item.isascii() else 4)
        elif isinstance(item, dict):
            size += 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2
            stack.extend(item)
        else:
            size += 24
    if seen > MAX_WALK_NODES:
        budget.charge(budget.max_bytes + 1)
    _charge(size)
    return size


class _LazyMap(map):  # type: ignore[type-arg]
    """``map`` that knows how many items it will give at most (from its sources' lengths)."""

    items_hint = 0

    def __length_hint__(self) -> int:
        return self.items_hint


class _LazyFilter(filter):  # type: ignore[type-arg]
    """``filter`` that knows how many items it will give at most."""

    items_hint = 0

    def __length_hint__(self) -> int:
        return self.items_hint


class _LazyEnumerate(enumerate):  # type: ignore[type-arg]
    """``enumerate`` that knows how many items it will give."""

    items_hint = 0

    def __length_hint__(self) -> int:
        return self.items_hint


_LAZY = (_LazyMap, _LazyFilter, _LazyEnumerate)  # ``reversed`` has a length hint of its own
for _kind, _plain in zip(_LAZY, (map, filter, enumerate), strict=True):
    _kind.__name__ = _kind.__qualname__ = _plain.__name__


def _lazy(kind: type, items: int, *args: Any, **kwargs: Any) -> Any:
    made = kind(*args, **kwargs)
    made.items_hint = items
    return made


_COLLECTORS = (list, tuple, set, frozenset, sorted, dict)
_WALKERS = (min, max, any, all)


def guarded_builtin_call(func: Any, *args: Any, **kwargs: Any) -> Any:
    """A call of a built-in that makes or walks a collection in one go (``list``, ``sorted``,
    ``max``, ``map``, ...; see the module docstring): its items are counted and its size
    estimated first (a self-similar structure of a few items can print as gigabytes;
    ``list(s)`` makes an object per character)."""
    if not args:
        return func(*args, **kwargs)
    first = args[0]
    if func is str or func is repr:
        _walk_size(first)
    elif func in _COLLECTORS:
        if isinstance(first, str | bytes | bytearray):
            per_item = 8 if isinstance(first, bytes | bytearray) or first.isascii() else 88
            _charge(len(first) * per_item)
        items = _items(first)
        _charge(items * (8 if func in (list, tuple, sorted) else 32))
        _cap(items)
    elif func in _WALKERS:
        if len(args) == 1:
            _cap(_items(first))
    elif func is map and len(args) > 1:
        return _lazy(_LazyMap, min(_items(a) for a in args[1:]), *args, **kwargs)
    elif func is filter and len(args) == 2:
        return _lazy(_LazyFilter, _items(args[1]), *args, **kwargs)
    elif func is enumerate:
        return _lazy(_LazyEnumerate, _items(first), *args, **kwargs)
    return func(*args, **kwargs)


def _split_parts(obj: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    sep = args[0] if args else kwargs.get("sep")
    limit = args[1] if len(args) > 1 else kwargs.get("maxsplit", -1)
    if isinstance(sep, str) and sep:
        parts = obj.count(sep) + 1
    else:
        parts = obj.count(" ") + obj.count("\n") + obj.count("\t") + obj.count("\r") + 1
    if _is_int(limit) and limit >= 0:
        parts = min(parts, int(limit) + 1)
    return parts


def guarded_pow_builtin(base: Any, exp: Any, mod: Any = None) -> Any:
    """``pow()``: as ``**``; with a modulus, numbers up to MAX_POW_MOD_BITS."""
    if mod is None:
        return guarded_pow(base, exp)
    if _is_int(exp) and _is_int(mod):
        bits = max(int(exp).bit_length(), int(mod).bit_length())
        if bits > MAX_POW_MOD_BITS:
            current_budget().refuse(
                f"would compute a modular power of {bits:,}-bit numbers; scripts are limited "
                f"to {MAX_POW_MOD_BITS:,} bits"
            )
    return pow(base, exp, mod)


def guarded_round(number: Any, ndigits: Any = None) -> Any:
    """``round()``: a huge negative ``ndigits`` makes Python compute 10**ndigits."""
    if ndigits is None:
        return round(number)
    if _is_int(ndigits) and abs(int(ndigits)) > 10_000:
        _too_big_int(int(abs(int(ndigits)) * 3.33))
    return round(number, ndigits)


def guarded_sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    """``sum()``; adding sequences goes through the ``+`` guard (``sum(lists, [])``)."""
    _cap(_items(iterable))
    if isinstance(start, int | float):  # numbers (lists and strings fail as in Python)
        return sum(iterable, start)
    total = start
    for item in iterable:
        total = guarded_add(total, item)
    return total


class GuardedPrintCollector(PrintCollector):
    """``print()`` output is collected and discarded; what is printed is size-checked first."""

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        for obj in objects:
            _walk_size(obj)
        super()._call_print(*objects, **kwargs)  # type: ignore[no-untyped-call]

    def write(self, text: str) -> None:
        _charge(len(text) * 4)
        super().write(text)


# --- size-taking methods, reached through the guarded attribute lookup ---


def _str_method(obj: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        unit = _unit(obj, *args)
        if name in ("ljust", "rjust", "center", "zfill") and args:
            _charge(max(operator.index(args[0]), len(obj)) * unit)
        elif name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            _charge((len(obj) + obj.count("\t") * max(operator.index(tab), 0)) * unit)
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
                n = obj.count(old) if old else len(obj) + 1
                if len(args) > 2 and operator.index(args[2]) >= 0:
                    n = min(n, operator.index(args[2]))
                _charge((len(obj) + n * (len(new) - len(old))) * unit)
        elif name == "join" and args:
            _cap(_items(args[0]))
            items = list(args[0])
            _charge(
                (sum(len(i) if isinstance(i, str) else 0 for i in items) + len(obj) * len(items))
                * _unit(obj, *items)
            )
            return method(items)
        elif name in ("split", "rsplit"):
            _charge(_split_parts(obj, args, kwargs) * 64 + len(obj) * unit)
        elif name == "splitlines":
            _charge((obj.count("\n") + obj.count("\r") + 1) * 64 + len(obj) * unit)
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            _charge(len(obj) * max(longest, 1) * 4)
        return method(*args, **kwargs)

    return call


def _list_extend(obj: list[Any], method: Callable[..., Any]) -> Callable[..., Any]:
    def call(items: Any) -> Any:
        count = _items(items)
        _charge(count * 8)
        _cap(len(obj) + count)
        return method(items)

    return call


def _list_sort(obj: list[Any], method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*, key: Any = None, reverse: bool = False) -> Any:
        _cap(len(obj))
        return method(key=key, reverse=reverse)

    return call


def _fromkeys(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(iterable: Any, value: Any = None) -> Any:
        items = _items(iterable)
        _charge(items * 32)
        _cap(items)
        return method(iterable, value)

    return call


_STR_SIZED = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "replace", "join"})
_STR_SIZED |= {"translate", "split", "rsplit", "splitlines"}


def _strftime(method: Callable[..., Any]) -> Callable[..., Any]:
    def call(fmt: Any) -> Any:
        if isinstance(fmt, str):
            _charge(len(fmt) * 12 * 4)  # '%c' (2 characters) becomes 24
        return method(fmt)

    return call


def _substitute(obj: string.Template, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        values = [
            *(args[0].values() if args and isinstance(args[0], dict) else ()),
            *kwargs.values(),
        ]
        longest = max((len(v) if isinstance(v, str) else 32 for v in values), default=1)
        _charge((len(obj.template) // 2 + 1) * max(longest, 1) * _unit(*values))
        return method(*args, **kwargs)

    return call


_DATES = (_dt.date, _dt.time)


def guarded_getattr(obj: Any, name: str, default: Any = None) -> Any:
    """RestrictedPython's ``safer_getattr`` plus size checks on size-taking methods."""
    value = safer_getattr(obj, name, default)  # type: ignore[no-untyped-call]
    if name == "strftime" and isinstance(obj, _DATES):
        return _strftime(value)
    if name in ("substitute", "safe_substitute") and isinstance(obj, string.Template):
        return _substitute(obj, value)
    if name in _STR_SIZED:
        if isinstance(obj, str):
            return _str_method(obj, name, value)
        if obj is str:
            return lambda inst, *a, **k: guarded_getattr(inst, name)(*a, **k)
    elif name == "extend":
        if isinstance(obj, list):
            return _list_extend(obj, value)
        if obj is list:
            return lambda inst, items: guarded_getattr(inst, "extend")(items)
    elif name == "sort":
        if isinstance(obj, list):
            return _list_sort(obj, value)
        if obj is list:
            return lambda inst, **k: guarded_getattr(inst, "sort")(**k)
    elif name == "fromkeys" and isinstance(obj, type) and issubclass(obj, dict):
        return _fromkeys(value)
    return value


# --- math and random as scripts see them ---


def _factorial(n: Any) -> int:
    if _is_int(n) and n > 1:
        bits = int(n * math.log2(n))
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
    return math.factorial(n)


def _comb(n: Any, k: Any) -> int:
    if _is_int(n) and _is_int(k) and n > 1 and 0 < k < n:
        bits = int(min(k, n - k) * math.log2(n))
        if bits > MAX_INT_BITS:
            _too_big_int(bits)
    return math.comb(n, k)


def _perm(n: Any, k: Any = None) -> int:
    if _is_int(n) and n > 1:
        kk = n if k is None else k
        if _is_int(kk) and kk > 0:
            bits = int(min(kk, n) * math.log2(n))
            if bits > MAX_INT_BITS:
                _too_big_int(bits)
    return math.perm(n, k)


def _prod(iterable: Iterable[Any], /, *, start: Any = 1) -> Any:
    total = start
    for item in iterable:
        total = guarded_mul(total, item)
    return total


def _lcm(*integers: Any) -> int:
    bits = sum(int(i).bit_length() for i in integers if _is_int(i))
    if bits > MAX_INT_BITS:
        _too_big_int(bits)
    return math.lcm(*integers)


def _math_namespace() -> types.SimpleNamespace:
    names = {n: getattr(math, n) for n in dir(math) if not n.startswith("_")}
    names.update(factorial=_factorial, comb=_comb, perm=_perm, prod=_prod, lcm=_lcm)
    return types.SimpleNamespace(**names)


GUARDED_MATH = _math_namespace()


class ScriptRandom(random.Random):
    """``random.Random`` with bounded sizes; each evaluation gets its own (nothing is shared)."""

    def getrandbits(self, k: int) -> int:
        """As ``random.getrandbits``, up to MAX_INT_BITS."""
        if k > MAX_INT_BITS:
            _too_big_int(k)
        return super().getrandbits(k)

    def randbytes(self, n: int) -> bytes:
        """As ``random.randbytes``, charged to the memory limit."""
        _charge(n)
        return super().randbytes(n)

    def shuffle(self, x: Any) -> None:
        """As ``random.shuffle``, for sequences of up to MAX_BUILD_ITEMS items."""
        _cap(len(x))
        super().shuffle(x)

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list[Any]:
        """As ``random.sample``, from and for up to MAX_BUILD_ITEMS items (Python may copy the
        population)."""
        k = operator.index(k)
        _cap(max(k, _items(population) if counts is None else guarded_sum(counts)))
        _charge(k * 8)
        return super().sample(population, k, counts=counts)

    def choices(
        self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1
    ) -> list[Any]:
        """As ``random.choices``, charged to the memory limit."""
        _charge(operator.index(k) * 8)
        _cap(operator.index(k))
        return super().choices(population, weights, cum_weights=cum_weights, k=k)


RANDOM_FUNCTIONS = frozenset(
    n
    for n in random.__all__
    if n not in {"Random", "SystemRandom"} and callable(getattr(random, n))
)


class RandomModule:
    """The ``random`` module as one evaluation sees it: the same functions, on a generator of its
    own (created on first use), so ``random.seed`` in one instance cannot fix another's numbers."""

    __slots__ = ("_rng",)
    Random = ScriptRandom

    def __init__(self) -> None:
        self._rng: ScriptRandom | None = None

    def __getattr__(self, name: str) -> Any:
        if name not in RANDOM_FUNCTIONS:
            raise AttributeError(f"random has no attribute {name!r}")
        rng = self._rng
        if rng is None:
            rng = self._rng = ScriptRandom()
        return getattr(rng, name)


GUARD_FUNCTIONS: dict[str, Any] = {
    "_getattr_": guarded_getattr,
    "_inplacevar_": guarded_inplacevar,
    "_pow_": guarded_pow,
    "_mul_": guarded_mul,
    "_lshift_": guarded_lshift,
    "_add_": guarded_add,
    "_mod_": guarded_mod,
    "_format_": guarded_format,
    "_sized_": guarded_value,
    "_display_": guarded_display,
    "_print_": GuardedPrintCollector,
    "_call_": guarded_builtin_call,
}

GUARDED_BUILTINS: dict[str, Any] = {
    "pow": guarded_pow_builtin,
    "round": guarded_round,
    "sum": guarded_sum,
}
