"""A restricted evaluator for the numeric transforms of a saved parametric formula.

A saved model stores each numeric column expression of its parametric part (``x``,
``I(x**2)``, ``np.log(x)``, ``{x / 2}``) as a small expression *tree* of plain JSON data,
never as Python source. The tree is built when the model is saved (``compile_expression``,
which reads the fitted model's own formula with ``ast`` and refuses anything outside the
grammar below), checked when a file is loaded (``validate``: no parsing, no evaluation)
and evaluated when the loaded model predicts (``evaluate``). Grammar, as JSON lists:

    ["col", name]              a column of the data (numeric or boolean)
    ["num", value]             a finite number (integers up to 2**53 in magnitude)
    ["neg", a]  ["pos", a]     unary minus / plus
    ["add" | "sub" | "mul" | "div" | "pow", a, b]
    ["call", f, a]             f in FUNCTIONS (numpy ufuncs of one argument)

``I(...)`` is the identity and disappears when compiling. Anything else (attribute access,
subscripts, other functions, strings, keyword arguments, stateful transforms such as
``center()``/``poly()``) raises ``ValueError``, when compiling, validating or evaluating.
"""

from __future__ import annotations

import ast
import math

import numpy as np
import pandas as pd

FUNCTIONS = {
    "log": np.log,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "square": np.square,
}
_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
_UNARY = {"neg": lambda a: -a, "pos": lambda a: +a}
_AST_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_AST_UNARY = {ast.USub: "neg", ast.UAdd: "pos"}
_NUMPY = ("np", "numpy")
MAX_INT = 2**53
MAX_DEPTH = 32
MAX_NODES = 256
MAX_NAME = 256


def _allowed() -> str:
    return ("numbers, column names, + - * / **, I(), abs() and "
            + ", ".join(f"np.{f}" for f in FUNCTIONS))


# ---------------------------------------------------------------- save time: ast -> tree
def compile_expression(text: str) -> list:
    """The expression tree of ``text`` (e.g. ``"I(x ** 2)"``); ValueError if not allowed."""
    if not isinstance(text, str) or len(text) > 10_000:
        raise ValueError(f"not an expression string: {text!r}")
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"cannot read the expression {text!r}: {exc}") from None
    tree = _compile(node, text)
    validate(tree)
    return tree


def _compile(node: ast.AST, text: str) -> list:
    if isinstance(node, ast.Name):
        return ["col", node.id]
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{text!r}: constant {value!r} is not a number")
        return ["num", value]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _AST_UNARY:
        return [_AST_UNARY[type(node.op)], _compile(node.operand, text)]
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_BINARY:
        return [_AST_BINARY[type(node.op)], _compile(node.left, text),
                _compile(node.right, text)]
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "I":
            return _compile(node.args[0], text)
        if isinstance(func, ast.Name) and func.id == "abs":
            return ["call", "abs", _compile(node.args[0], text)]
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id in _NUMPY and func.attr in FUNCTIONS):
            return ["call", func.attr, _compile(node.args[0], text)]
    raise ValueError(
        f"{text!r}: {ast.unparse(node)!r} is not an allowed transform (allowed: {_allowed()})"
    )


# ---------------------------------------------------------------- load time: check data
def validate(tree) -> set[str]:
    """Check that ``tree`` follows the grammar; returns the column names it reads."""
    columns: set[str] = set()
    count = [0]
    _validate(tree, 0, columns, count)
    return columns


def _validate(node, depth: int, columns: set[str], count: list[int]) -> None:
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise ValueError(f"expression tree deeper than {MAX_DEPTH} or larger than "
                         f"{MAX_NODES} nodes")
    if not isinstance(node, list) or not node or not isinstance(node[0], str):
        raise ValueError(f"malformed expression node {_short(node)}")
    op, args = node[0], node[1:]
    if op == "col":
        if len(args) != 1 or not isinstance(args[0], str) or not 0 < len(args[0]) <= MAX_NAME:
            raise ValueError(f"malformed column node {_short(node)}")
        columns.add(args[0])
    elif op == "num":
        value = args[0] if len(args) == 1 else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"malformed number node {_short(node)}")
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise ValueError(f"integer constant out of range in {_short(node)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"non-finite constant in {_short(node)}")
    elif op in _UNARY:
        if len(args) != 1:
            raise ValueError(f"malformed node {_short(node)}")
        _validate(args[0], depth + 1, columns, count)
    elif op in _BINARY:
        if len(args) != 2:
            raise ValueError(f"malformed node {_short(node)}")
        for arg in args:
            _validate(arg, depth + 1, columns, count)
    elif op == "call":
        if len(args) != 2 or args[0] not in FUNCTIONS:
            raise ValueError(f"function not allowed in {_short(node)} (allowed: "
                             f"{sorted(FUNCTIONS)})")
        _validate(args[1], depth + 1, columns, count)
    else:
        raise ValueError(f"operation {op!r} not allowed (allowed: {_allowed()})")


def _short(node) -> str:
    text = repr(node)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- predict time: evaluate
def evaluate(tree, data: pd.DataFrame) -> np.ndarray:
    """The tree's value on every row of ``data`` as float64; ValueError on anything else."""
    validate(tree)
    n = len(data)
    try:
        with np.errstate(all="ignore"):  # log(0) etc. give inf/nan as in formulaic
            value = _evaluate(tree, data)
        out = np.array(value, dtype=np.float64)  # always a new array
    except (ArithmeticError, TypeError) as exc:
        raise ValueError(f"cannot evaluate {to_text(tree)}: {exc}") from exc
    return np.full(n, float(out)) if out.ndim == 0 else out.reshape(n)


def _evaluate(node, data):
    op, args = node[0], node[1:]
    if op == "col":
        name = args[0]
        if name not in data.columns:
            raise ValueError(f"the data have no column {name!r}")
        series = data[name]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)) \
                or isinstance(series.dtype, pd.CategoricalDtype):
            raise ValueError(f"column {name!r} must be numeric, got dtype {series.dtype}")
        return series.to_numpy()
    if op == "num":
        return args[0]
    if op in _UNARY:
        return _UNARY[op](_evaluate(args[0], data))
    if op in _BINARY:
        a, b = _evaluate(args[0], data), _evaluate(args[1], data)
        if np.ndim(a) == 0 and np.ndim(b) == 0:  # constants only: float64, no bignums
            a, b = np.float64(a), np.float64(b)
        return _BINARY[op](a, b)
    if op == "call":
        return FUNCTIONS[args[0]](_evaluate(args[1], data))
    raise ValueError(f"operation {op!r} not allowed")  # pragma: no cover - validated


def to_text(tree) -> str:
    """Readable form of a (valid) tree, for messages."""
    op, args = tree[0], tree[1:]
    if op in ("col", "num"):
        return str(args[0])
    if op in _UNARY:
        return ("-" if op == "neg" else "+") + f"({to_text(args[0])})"
    if op in _BINARY:
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[op]
        return f"({to_text(args[0])} {sym} {to_text(args[1])})"
    return f"np.{args[0]}({to_text(args[1])})"


def safe_eval(text: str, data: pd.DataFrame) -> np.ndarray:
    """Compile and evaluate ``text`` on ``data`` with the restricted grammar."""
    return evaluate(compile_expression(text), data)
