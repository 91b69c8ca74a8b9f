"""Parse ``"y ~ x3 + krls(x1, x2) + re(g) + s(x4, bs='cr', k=10)"`` into term specs.

Smooth calls (``krls``, ``re``, ``s``) are read with Python's ``ast``: positional
arguments are column names, keyword arguments are literals or names looked up in
the caller's namespace (like patsy/formulaic ``eval_env``). Everything else on the
right-hand side goes to formulaic as the parametric part.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .terms import CRSplineTerm, KRLSTerm, ParametricTerms, RandomEffectTerm, Term

SMOOTHS = {"krls": KRLSTerm, "re": RandomEffectTerm, "s": CRSplineTerm}


@dataclass
class ParsedFormula:
    response: str
    parametric: str
    smooths: list[Term] = field(default_factory=list)
    offsets: list[str] = field(default_factory=list)  # columns inside offset(...)

    @property
    def terms(self) -> list[Term]:
        return [ParametricTerms(self.parametric), *self.smooths]


def split_top_level(text: str, sep: str = "+") -> list[str]:
    """Split on ``sep`` outside parentheses/brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _smooth_call(text: str, env: dict) -> Term | None:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    name = node.func.id
    if name not in SMOOTHS:
        return None
    columns = []
    for arg in node.args:
        if not isinstance(arg, ast.Name):
            raise ValueError(f"{name}(): arguments must be column names, got {ast.unparse(arg)!r}")
        columns.append(arg.id)
    kwargs = {}
    for kw in node.keywords:
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            if isinstance(kw.value, ast.Name) and kw.value.id in env:
                kwargs[kw.arg] = env[kw.value.id]
            else:
                raise ValueError(
                    f"{name}(): cannot evaluate {kw.arg}={ast.unparse(kw.value)}; "
                    "use a literal or a variable defined where gam() is called"
                ) from None
    cls = SMOOTHS[name]
    if cls is KRLSTerm:
        allowed = {"sketch", "multiplier", "size", "indices", "standardize", "bandwidth", "seed"}
    elif cls is CRSplineTerm:
        allowed = {"k", "bs"}
    else:
        allowed = set()
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(
            f"{name}(): unknown option(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    if cls is not KRLSTerm and len(columns) != 1:
        raise ValueError(f"{name}() takes exactly one column, got {columns}")
    if cls is KRLSTerm:
        return cls(columns, **kwargs)
    return cls(columns[0], **kwargs)


def parse_formula(formula: str, env: dict | None = None) -> ParsedFormula:
    """Split a two-sided formula into response, parametric RHS and smooth terms."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string like 'y ~ krls(x1, x2)', got {type(formula)}")
    if formula.count("~") != 1:
        raise ValueError(f"formula must have exactly one '~': {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs.isidentifier():
        raise ValueError(f"the response must be a single column name, got {lhs!r}")
    if not rhs:
        raise ValueError("the formula has no right-hand side")
    env = env or {}
    smooths, parametric, offsets = [], [], []
    for part in split_top_level(rhs):
        if part.startswith("offset(") and part.endswith(")"):
            column = part[len("offset(") : -1].strip()
            if not column.isidentifier():
                raise ValueError(f"offset() takes one column name, got {column!r}")
            offsets.append(column)
            continue
        term = _smooth_call(part, env)
        if term is None:
            parametric.append(part)
        else:
            smooths.append(term)
    return ParsedFormula(lhs, " + ".join(parametric) if parametric else "1", smooths, offsets)
