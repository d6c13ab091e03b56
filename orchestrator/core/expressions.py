"""Safe conditions for declarative workflows: `data.amount > 1000 and params.region == "eu"`.

An expression is parsed with Python's own `ast` and evaluated by walking the tree over a small
whitelist of node types; nothing is ever passed to `eval`/`exec`, and no Python object is
reachable from an expression. Why not a library:

- `simpleeval` evaluates Python with a blacklist of dangerous attributes; its sandbox has been
  escaped before, and a blacklist fails open when Python grows a new dunder.
- JMESPath (already used for event triggers) is sandboxed, but the seed's conditions
  (`data.amount > 1000`) are not JMESPath: literals need backticks there and comparisons are
  numeric only, so every workflow author would have to learn its quirks.

What an expression may use:

- names given by the caller (`data`, `params`, `input`, `steps`) and the JSON literals
  `true`, `false`, `null` (as well as Python's `True`, `False`, `None`);
- `a.b` and `a["b"]` read a key of a JSON object (never a Python attribute), `a[0]` an item;
- literals: numbers, strings, lists, dicts; `+ - * / // %`, unary `-`/`+`, `not`, `and`, `or`,
  comparisons (`== != < <= > >= in not in`, chained), `x if cond else y`;
- the functions in `FUNCTIONS` (`len`, `lower`, `startswith`, ...), called by name.

Everything else (`**`, lambdas, comprehensions, method calls, `_private` keys via `.`) is
refused when the expression is compiled, so a workflow file with one is an import error.
Evaluation is bounded: the expression's length and nesting, and the size of strings built by
`*` (lists are never repeated).
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import OrchestratorError

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_SEQUENCE = 100_000
"""The longest string `*` may build (so `"x" * 10**9` cannot exhaust memory)."""


class ExpressionError(OrchestratorError):
    """An expression cannot be compiled: a syntax error, or something the evaluator does not allow."""


class EvaluationError(OrchestratorError):
    """A compiled expression failed on its data (a missing key, comparing a string with a number...)."""


def _lower(s: str) -> str:
    return _text(s, "lower").lower()


def _upper(s: str) -> str:
    return _text(s, "upper").upper()


def _startswith(s: str, prefix: str) -> bool:
    return _text(s, "startswith").startswith(_text(prefix, "startswith"))


def _endswith(s: str, suffix: str) -> bool:
    return _text(s, "endswith").endswith(_text(suffix, "endswith"))


def _text(value: Any, fn: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{fn}() takes a string, not {type(value).__name__}")
    return value


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "lower": _lower,
    "upper": _upper,
    "startswith": _startswith,
    "endswith": _endswith,
}
"""The functions an expression may call; all are pure and bounded by their arguments' size."""

_LITERAL_NAMES: Mapping[str, Any] = {"true": True, "false": False, "null": None}

_BINARY: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[Any], Any]] = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE: Mapping[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_DESCRIBED: Mapping[type[ast.AST], str] = {
    ast.Pow: "'**'",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.NamedExpr: "':='",
    ast.Slice: "slices",
    ast.JoinedStr: "f-strings",
    ast.Starred: "'*' unpacking",
    ast.Set: "sets",
    ast.Is: "'is' (use ==)",
    ast.IsNot: "'is not' (use !=)",
    ast.Await: "await",
}


@dataclass(frozen=True)
class Expression:
    """A compiled expression; `evaluate` runs it over a scope of JSON-like values."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The expression's value; EvaluationError saying what went wrong on this data."""
        try:
            return _Evaluator(scope).visit(self.tree)
        except EvaluationError as exc:
            raise EvaluationError(f"{self.source!r}: {exc}") from None
        except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
            raise EvaluationError(f"{self.source!r}: {type(exc).__name__}: {exc}") from None

    def holds(self, scope: Mapping[str, Any]) -> bool:
        """Whether the expression is true (Python's truth: 0, "", [], {} and null are false)."""
        return bool(self.evaluate(scope))


@functools.lru_cache(maxsize=4096)
def _compile(source: str, names: frozenset[str]) -> Expression:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(f"an expression must be a non-empty string, not {source!r}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(source)} characters long; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"{source!r} is not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"{source!r} is too deeply nested") from None
    used: set[str] = set()
    _check(tree, source, names, used, 0)
    return Expression(source, tree, frozenset(used))


def compile_expression(source: str, names: Collection[str]) -> Expression:
    """Parse and check `source`, which may read the variables `names`; ExpressionError says why not."""
    return _compile(source, frozenset(names))


def _check(node: ast.AST, source: str, names: frozenset[str], used: set[str], depth: int) -> None:
    """Refuse every node type the evaluator does not handle, naming it."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"{source!r} is nested more than {MAX_DEPTH} levels deep")
    where = f"{source!r}"
    if isinstance(node, ast.Name):
        if node.id in names:
            used.add(node.id)
        elif node.id not in _LITERAL_NAMES:  # a function's name only as what a call calls
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(f"{where} uses the unknown name {node.id!r} (the names an expression may read: {known})")
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise ExpressionError(f"{where} uses the literal {node.value!r}, which is not JSON")
        return
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise ExpressionError(f"{where} reads {node.attr!r}: names starting with '_' cannot be read with '.'; use [\"...\"]")
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"{where} calls something other than a known function ({allowed})")
        if node.keywords:
            raise ExpressionError(f"{where} passes keyword arguments, which functions here do not take")
        for arg in node.args:
            _check(arg, source, names, used, depth + 1)
        return
    elif isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise ExpressionError(f"{where} uses {_DESCRIBED.get(type(node.op), type(node.op).__name__)}, which is not allowed")
    elif isinstance(node, ast.UnaryOp) and type(node.op) not in _UNARY:
        raise ExpressionError(f"{where} uses the operator {type(node.op).__name__}, which is not allowed")
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ExpressionError(f"{where} uses {_DESCRIBED.get(type(op), type(op).__name__)}, which is not allowed")
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        raise ExpressionError(f"{where} uses slices, which are not allowed")
    elif not isinstance(node, (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Subscript, ast.List, ast.Tuple, ast.Dict)):
        what = _DESCRIBED.get(type(node), type(node).__name__)
        raise ExpressionError(f"{where} uses {what}, which is not allowed in a condition")
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)):
            continue
        _check(child, source, names, used, depth + 1)


class _Evaluator:
    """Walks a checked tree; only the node types `_check` lets through reach here."""

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope

    def visit(self, node: ast.AST) -> Any:
        method: Callable[[Any], Any] = getattr(self, f"visit_{type(node).__name__}")
        return method(node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[node.id]
        raise EvaluationError(f"{node.id!r} is not known here")

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        return _item(self.visit(node.value), node.attr, ast.unparse(node.value))

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        return _item(self.visit(node.value), self.visit(node.slice), ast.unparse(node.value))

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.visit(operand)
            # and: stop at the first false operand; or: at the first true one
            if bool(value) is isinstance(node.op, ast.Or):
                return value
        return value

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.visit(node.operand))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Mult):
            _check_repeat(left, right)
        return _BINARY[type(node.op)](left, right)

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.visit(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_List(self, node: ast.List) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    def visit_Tuple(self, node: ast.Tuple) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    def visit_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(k is None for k in node.keys):
            raise EvaluationError("'**' in a dict literal is not allowed")
        return {self.visit(k): self.visit(v) for k, v in zip(node.keys, node.values) if k is not None}

    def visit_Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args))


def _item(container: Any, key: Any, what: str) -> Any:
    """`container[key]` for JSON values only: a dict's key or a list's index."""
    if isinstance(container, Mapping):
        if key not in container:
            raise EvaluationError(f"{what} has no key {key!r}")
        return container[key]
    if isinstance(container, Sequence) and not isinstance(container, (str, bytes)):
        if isinstance(key, bool) or not isinstance(key, int):
            raise EvaluationError(f"{what} is a list: index it with a number, not {key!r}")
        if not -len(container) <= key < len(container):
            raise EvaluationError(f"{what} has {len(container)} items; there is no item {key}")
        return container[key]
    kind = "null" if container is None else type(container).__name__
    raise EvaluationError(f"{what} is {kind}, not an object or a list: it has no {key!r}")


def _check_repeat(left: Any, right: Any) -> None:
    """`"ab" * 3` is allowed up to MAX_SEQUENCE characters; lists are never repeated (a list of
    repeated lists would make a comparison or `in` quadratic)."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (list, tuple)):
            raise EvaluationError("'*' does not repeat lists")
        if isinstance(seq, str) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
            raise EvaluationError(f"'*' would build a string of {len(seq) * times} characters; at most {MAX_SEQUENCE} are allowed")
