"""The compile-time pass that lets the step budget and the size guards see a script run.

``LimitingTransformer`` extends RestrictedPython's policy: after its checks it inserts a call of
``_tick_()`` (the step budget's ``tick``) before every statement (in module, function, class,
loop, ``if``, ``try``, ``with`` and ``match`` bodies alike) and at the top of every lambda and
comprehension clause, and routes size-taking operators and built-in calls through the guard
functions of ``engine.guards`` (named ``_pow_``, ``_mul_``, ... in the script's globals).
"""

from __future__ import annotations

import ast
from typing import Any

from RestrictedPython.transformer import RestrictingNodeTransformer


def _name(ident: str) -> ast.Name:
    return ast.Name(id=ident, ctx=ast.Load())


def _call(ident: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(ident), args=list(args), keywords=[])


def _located(new: ast.AST, old: ast.AST) -> Any:
    for node in ast.walk(new):
        if "lineno" in node._attributes and not hasattr(node, "lineno"):
            ast.copy_location(node, old)
    return new


_SIZED_CALLS = frozenset(
    {"str", "repr", "list", "tuple", "set", "frozenset", "sorted", "dict"}
    | {"map", "filter", "enumerate", "min", "max", "any", "all"}
)

_BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Pow: "_pow_",
    ast.Mult: "_mul_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}


# nodes whose statement lists get a tick before each statement
_BLOCKS = (
    ast.Module,
    ast.FunctionDef,
    ast.ClassDef,
    ast.For,
    ast.While,
    ast.If,
    ast.With,
    ast.Try,
    ast.TryStar,
    ast.ExceptHandler,
    ast.match_case,
)


class LimitingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy plus budget ticks and size guards (see the module docstring)."""

    def _tick(self, node: ast.AST) -> ast.Expr:
        return _located(ast.Expr(_call("_tick_")), node)  # type: ignore[no-any-return]

    def visit_Module(self, node: Any) -> Any:
        node = super().visit_Module(node)
        for block in [n for n in ast.walk(node) if isinstance(n, _BLOCKS)]:
            for field in ("body", "orelse", "finalbody"):
                statements = getattr(block, field, None)
                if isinstance(statements, list) and statements:
                    ticked: list[ast.stmt] = []
                    for statement in statements:
                        ticked += (self._tick(statement), statement)
                    setattr(block, field, ticked)
        return node

    def visit_Lambda(self, node: Any) -> Any:
        node = super().visit_Lambda(node)
        node.body = _located(ast.BoolOp(op=ast.And(), values=[_call("_tick_"), node.body]), node)
        return node

    def visit_comprehension(self, node: Any) -> Any:
        node = super().visit_comprehension(node)
        node.ifs.insert(0, _located(_call("_tick_"), node.iter))
        return node

    def visit_BinOp(self, node: Any) -> Any:
        node = super().visit_BinOp(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return _located(_call(guard, node.left, node.right), node)

    def visit_FormattedValue(self, node: Any) -> Any:
        node = super().visit_FormattedValue(node)
        if node.format_spec is None:
            return node
        value = _call("_format_", node.value, node.format_spec, ast.Constant(node.conversion))
        node.value = _located(value, node)
        node.conversion = -1
        node.format_spec = None
        return node

    def visit_JoinedStr(self, node: Any) -> Any:
        node = super().visit_JoinedStr(node)
        if sum(isinstance(v, ast.FormattedValue) for v in node.values) < 2:
            return node
        return _located(_call("_sized_", node), node)

    def visit_Call(self, node: Any) -> Any:
        node = super().visit_Call(node)
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in _SIZED_CALLS
            and node.args
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            return _located(
                ast.Call(func=_name("_call_"), args=[func, *node.args], keywords=node.keywords),
                node,
            )
        return node

    def _displayed(self, node: Any) -> Any:
        """``[a, *b, c]`` becomes ``_display_("list", (a,), b, (c,))``: the guard counts the
        items before building the display."""
        if isinstance(node.ctx if not isinstance(node, ast.Set) else None, ast.Store | ast.Del):
            return node
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return node
        parts: list[ast.expr] = []
        single: list[ast.expr] = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                if single:
                    parts.append(ast.Tuple(elts=single, ctx=ast.Load()))
                    single = []
                parts.append(element.value)
            else:
                single.append(element)
        if single:
            parts.append(ast.Tuple(elts=single, ctx=ast.Load()))
        kind = ast.Constant(type(node).__name__.lower())
        return _located(_call("_display_", kind, *parts), node)

    def visit_List(self, node: Any) -> Any:
        return self._displayed(super().visit_List(node))

    def visit_Tuple(self, node: Any) -> Any:
        return self._displayed(super().visit_Tuple(node))

    def visit_Set(self, node: Any) -> Any:
        return self._displayed(super().visit_Set(node))
