"""Parse ``"y ~ x3 + krls(x1, x2) + re(g) + s(x4, bs='cr', k=10)"`` into term specs.

Smooth calls (``krls``, ``re``, ``s``) are read with Python's ``ast``: positional
arguments are column names, keyword arguments are literals or names looked up in
the caller's namespace (like patsy/formulaic ``eval_env``). Everything else on the
right-hand side goes to formulaic as the parametric part.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field

from .terms import CALLS, ParametricTerms, Term, formula_variables

# mgcv / other packages' smooths we do not have, with what to use instead
_UNSUPPORTED = {
    "t2": "krls(x1, x2) (a smooth of several variables)",
    "gp": "krls(x) (a Gaussian-kernel smooth)",
    "lo": "s(x) or krls(x)",
    "ns": "s(x, bs='cr') or formulaic's cr(x)",
}
_BACKTICK = re.compile(r"`([^`]*)`")
_CALL = re.compile(r"(?<![\w.`])([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*\(")


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


def _protect_backticks(text: str) -> tuple[str, dict[str, str]]:
    """Replace `any name` by placeholder identifiers that Python's ``ast`` can parse."""
    names: dict[str, str] = {}

    def sub(match):
        key = f"__flexcausal_col{len(names)}__"
        names[key] = match.group(1)
        return key

    return _BACKTICK.sub(sub, text), names


def column_name(text: str, what: str) -> str:
    """A bare column name or a `backticked name`, else ValueError."""
    text = text.strip()
    if len(text) >= 3 and text[0] == text[-1] == "`" and "`" not in text[1:-1]:
        return text[1:-1]
    if not text.isidentifier():
        raise ValueError(
            f"{what} must be a single column name (write `my column` for names with spaces "
            f"or symbols; transform columns in the data frame first), got {text!r}"
        )
    return text


def bare_names(text: str) -> list[str]:
    """Identifiers used as values, not called, not attributes, not keyword names."""
    code = re.sub(r"(['\"]).*?\1", "''", _BACKTICK.sub("_", text))
    return re.findall(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(?![\w.]|\s*\(|\s*=(?!=))", code)


def called_functions(text: str) -> list[str]:
    """Names used as functions (``log`` in ``log(x)``, ``np`` in ``np.log(x)``)."""
    return _CALL.findall(_BACKTICK.sub("_", text))


def _smooth_call(text: str, env: dict) -> Term | None:
    code, names = _protect_backticks(text)
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    name = node.func.id
    if name not in CALLS:
        return None
    call = CALLS[name]
    columns = []
    for arg in node.args:
        if isinstance(arg, ast.Starred) or not isinstance(arg, ast.Name):
            raise ValueError(
                f"{name}(): positional arguments must be column names, got "
                f"{ast.unparse(arg)!r}; give options by keyword (e.g. {call.example})"
            )
        columns.append(names.get(arg.id, arg.id))
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise ValueError(f"{name}(): column(s) {dup} listed more than once; list each once")
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise ValueError(f"{name}(): **options are not supported; write each option")
        if kw.arg == "by" and isinstance(kw.value, ast.Name):
            kwargs["by"] = names.get(kw.value.id, kw.value.id)  # a column, as in mgcv
            continue
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
    unknown = set(kwargs) - call.options
    if unknown:
        raise ValueError(
            f"{name}(): unknown option(s) {sorted(unknown)}; allowed {sorted(call.options)}"
        )
    if not call.min_columns <= len(columns) <= (call.max_columns or len(columns)):
        want = (f"exactly {call.min_columns}" if call.max_columns == call.min_columns
                else f"at least {call.min_columns}")
        raise ValueError(f"{name}() takes {want} column(s), got {columns}")
    return call.build(columns, **kwargs)


def parse_formula(formula: str, env: dict | None = None) -> ParsedFormula:
    """Split a two-sided formula into response, parametric RHS and smooth terms."""
    if not isinstance(formula, str):
        raise TypeError(
            f"formula must be a string like 'y ~ krls(x1, x2)', got {type(formula).__name__}"
        )
    if formula.count("~") != 1:
        raise ValueError(f"formula must have exactly one '~' (response ~ terms): {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs:
        raise ValueError(f"the formula has no response (left of '~'): {formula!r}")
    lhs = column_name(lhs, "the response (left of '~')")
    if not rhs:
        raise ValueError("the formula has no right-hand side")
    _check_brackets(rhs)
    if "|" in _BACKTICK.sub("_", rhs):
        raise ValueError(
            "'|' is not supported in the formula (no multi-part formulas or lme4-style "
            "(1 | g) random effects); write random intercepts as re(g)"
        )
    if rhs.rstrip()[-1] in "+-*/:^|":
        raise ValueError(f"the formula ends with the operator {rhs.rstrip()[-1]!r}: {formula!r}")
    env = env or {}
    smooths, parametric, offsets = [], [], []
    for part in split_top_level(rhs):
        if part.startswith("offset(") and part.endswith(")"):
            offsets.append(column_name(part[len("offset(") : -1], "offset()'s argument"))
            continue
        term = _smooth_call(part, env)
        if term is None:
            _check_functions(part)
            parametric.append(part)
        else:
            smooths.append(term)
    labels = [t.label for t in smooths] + [f"offset({c})" for c in offsets]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise ValueError(f"the formula has the term(s) {dup} more than once; keep one")
    parsed = ParsedFormula(lhs, " + ".join(parametric) if parametric else "1", smooths, offsets)
    _check_response_not_used(parsed)
    return parsed


def _check_brackets(rhs: str) -> None:
    depth = 0
    for ch in _BACKTICK.sub("_", rhs):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            break
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in the formula's right-hand side {rhs!r}")


def _check_functions(part: str) -> None:
    """Smooth calls must be whole terms; other functions must be formulaic transforms."""
    from formulaic.transforms import TRANSFORMS

    for fn in called_functions(part):
        if fn in CALLS or fn == "offset":
            raise ValueError(
                f"{fn}() must be a term of its own, joined by '+' (e.g. 'y ~ x1 + {fn}(x2)'); "
                f"it cannot be multiplied, interacted or transformed: {part!r}"
            )
        if fn in TRANSFORMS or hasattr(builtins, fn):
            continue
        hint = (f"mgcv's {fn}() is not available; use {_UNSUPPORTED[fn]}"
                if fn in _UNSUPPORTED else
                "smooth terms are krls(...), s(x, bs='cr', k=...), re(g) and offset(o); "
                "other functions must be formulaic transforms (log, exp, I, C, poly, "
                "center, scale, ...) or Python builtins; or transform the column in the "
                "data frame first")
        raise ValueError(f"unknown function {fn}() in the formula term {part!r}: {hint}")


def _check_response_not_used(parsed: ParsedFormula) -> None:
    """The response may not appear on the right-hand side (R would fit y ~ y exactly)."""
    y = parsed.response
    places = []
    if parsed.parametric != "1" and y in formula_variables(parsed.parametric):
        places.append("the parametric part")
    places += [t.label for t in parsed.smooths if y in t.columns]
    if y in parsed.offsets:
        places.append(f"offset({y})")
    if places:
        raise ValueError(
            f"the response {y!r} also appears on the right-hand side ({', '.join(places)}); "
            "a model cannot use its response as a predictor: remove it from the right-hand "
            "side"
        )
