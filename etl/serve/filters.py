"""Filter expressions (`--where`, `--where-group`): a small grammar, parsed by
Lark (never `eval`) and compiled to SQL with bound parameters.

    expression  := or-expression
    comparison  := REF OP LITERAL | REF is set | REF is not set | "string" in REF
    OP          := == != > >= < <= in contains
    REF         := properties["name"] | name | scope.name | scope["name"]
    LITERAL     := "string" | number | true | false | null | [literal, ...]
    combined with and, or, not, and parentheses (not binds tightest, then
    and, then or; at most MAX_DEPTH levels nest). Strings take JSON's escapes
    (\\" \\\\ \\n \\uXXXX ...), never \\u0000.

A reference names an event property (`properties["plan"]`, `plan`), or with a
scope: `user.plan` (the user's profile), `group.plan` (the group's profile in a
group report), or `company_id.plan` (in `--where-group`: the profile of a
group of key company_id the user belongs to). Which scopes are allowed is the
caller's rule (the one-way user -> group link of docs/rules.md).

Semantics: `==`, `!=` and `in` compare a string with the property's text and a
number numerically; `>`, `>=`, `<`, `<=` are numeric and false for a
non-number; `contains` is a substring test on the property's text, and on a
list on each item's text (Mixpanel reads a list item by item: `tags contains
"b2b"` holds for ["b2bx"], never for the JSON text's `", "`); `"v" in REF`
(Mixpanel's form) holds when the list has an item equal to "v", or when a
property that is not a list has "v" in its text; `is set` tests presence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedToken, VisitError

from etl.errors import EtlError
from etl.store.dialects import dialect_for

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: comparison
     | "(" or_expr ")"
comparison: ref OP literal
          | STRING _IN ref -> member
          | ref _IS _SET -> is_set
          | ref _IS _NOT _SET -> not_set
ref: PROPERTIES "[" STRING "]"       -> event_ref
   | NAME "[" STRING "]"             -> scoped_ref
   | NAME "." NAME                   -> scoped_ref
   | NAME                            -> bare_ref
?literal: STRING -> string
        | SIGNED_NUMBER -> number
        | _TRUE -> true
        | _FALSE -> false
        | _NULL -> null
        | "[" [literal ("," literal)*] "]" -> array
OP: "==" | "!=" | ">=" | "<=" | ">" | "<" | /in\b/ | /contains\b/
PROPERTIES.2: "properties"
_OR.2: /or\b/
_AND.2: /and\b/
_NOT.2: /not\b/
_IN.2: /in\b/
_IS.2: /is\b/
_SET.2: /set\b/
_TRUE.2: /true\b/
_FALSE.2: /false\b/
_NULL.2: /null\b/
NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
STRING: /"(?:[^"\\]|\\.)*"/
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""


@cache
def _parser() -> Lark:
    """Built on the first filter parsed (15-30 ms): most reports have none (issue 21)."""
    return Lark(GRAMMAR, parser="lalr")


# Levels of not, and, or (parentheses nest and/or; around one condition they add none).
# Building and compiling the tree recurses per level: a bound keeps every answer one line.
MAX_DEPTH = 100
_LOGICAL = {"negation", "and_expr", "or_expr"}


@dataclass(frozen=True)
class Ref:
    scope: str | None  # None: the event; else user, group, or a group key
    name: str


@dataclass(frozen=True)
class Compare:
    ref: Ref
    op: str
    value: Any


@dataclass(frozen=True)
class Logical:
    op: str  # and, or, not
    parts: tuple


@v_args(inline=True)
class _Tree(Transformer):
    def event_ref(self, _props: Token, name: Token) -> Ref:
        return Ref(None, _property_name(name))

    def scoped_ref(self, scope: Token, name: Token) -> Ref:
        return Ref(str(scope), _property_name(name) if name.type == "STRING" else str(name))

    def bare_ref(self, name: Token) -> Ref:
        return Ref(None, str(name))

    def string(self, token: Token) -> str:
        return _unquote(token)

    def number(self, token: Token) -> float | int:
        text = str(token)
        return float(text) if any(c in text for c in ".eE") else int(text)

    def true(self) -> bool:
        return True

    def false(self) -> bool:
        return False

    def null(self) -> None:
        return None

    def array(self, *items: Any) -> list:
        return [i for i in items if i is not None] if items != (None,) else []

    def comparison(self, ref: Ref, op: Token, value: Any) -> Compare:
        op = str(op)
        if op in ("in",) and not isinstance(value, list):
            raise EtlError(f"'in' needs a list, as in {ref.name} in [\"a\", \"b\"]")
        if op in (">", ">=", "<", "<=") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise EtlError(f"'{op}' compares numbers; got {json.dumps(value)}")
        if op == "contains" and not isinstance(value, str):
            raise EtlError("'contains' takes a string")
        return Compare(ref, op, value)

    def member(self, value: Token, ref: Ref) -> Compare:
        return Compare(ref, "has", _unquote(value))

    def is_set(self, ref: Ref) -> Compare:
        return Compare(ref, "is set", None)

    def not_set(self, ref: Ref) -> Compare:
        return Compare(ref, "is not set", None)

    def and_expr(self, *parts: Any) -> Logical:
        return Logical("and", parts)

    def or_expr(self, *parts: Any) -> Logical:
        return Logical("or", parts)

    def negation(self, part: Any) -> Logical:
        return Logical("not", (part,))


def _property_name(token: Token) -> str:
    """A quoted property name: never empty (no JSON path names the empty member alike on
    every engine, and no event needs it)."""
    name = _unquote(token)
    if not name:
        raise EtlError(f"empty property name at column {token.column}")
    return name


def _unquote(token: Token) -> str:
    """A STRING token's text, read with JSON's escapes. NUL is refused: PostgreSQL's
    text cannot hold it, and both engines must give one answer."""
    try:
        text = json.loads(token)
    except ValueError as error:
        reason = error.msg.lower().removesuffix(" at")
        raise EtlError(f"bad string at column {token.column + error.pos}: {reason} "
                       f"(escapes: {ESCAPES})") from None
    if "\x00" in text:
        raise EtlError(f"the string at column {token.column} holds a NUL character (\\u0000), "
                       "which no property name or value can hold")
    return text


OPERATORS = "==, !=, >, >=, <, <=, in, contains, is set, is not set"
ESCAPES = '\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX'
# What the parser expected, in words (Lark names terminals; a user reads these).
_EXPECTED = [
    ({"STRING", "SIGNED_NUMBER", "_TRUE", "_FALSE", "_NULL"}, "a value"),
    ({"NAME", "PROPERTIES"}, "a property"),
    ({"OP", "_IS"}, "an operator"),
    ({"_SET"}, "'set'"),
    ({"RPAR"}, "')'"),
    ({"_IN"}, "'in' (a value on the left: \"v\" in tags)"),
]


def _words(expected: set[str]) -> str:
    words = [words for names, words in _EXPECTED if names & expected]
    if "LSQB" in expected and not words:
        words = ["'['"]
    return " or ".join(words) or "something else"


def _problem(text: str, error: LarkError) -> str:
    """What is wrong with a filter, in one line: the error classes a user makes."""
    if isinstance(error, UnexpectedCharacters):
        expected, column = set(error.allowed or ()), error.column
        if error.char == '"':
            return f"unterminated string starting at column {column}"
        if error.char == "'":
            return f"a ' at column {column}: write strings in double quotes, as in plan == \"pro\""
    elif isinstance(error, UnexpectedToken):
        expected, column = set(error.expected or ()), error.column
        if error.token.type == "$END":
            return f"the expression ends at column {len(text.rstrip()) + 1}, where {_words(expected)} was expected"
    else:
        return str(error).splitlines()[0]
    found = re.match(r'[A-Za-z_$][\w$]*|"[^"]*"?|[^\w\s"()\[\]]+|.', text[column - 1:]).group(0)
    if "OP" in expected:
        return f"unknown operator {found!r} at column {column} (operators: {OPERATORS})"
    if expected & {"_AND", "_OR", "$END"} and not expected & {"NAME", "STRING"}:
        return f"unexpected {found!r} at column {column} after a complete condition (join conditions with and, or)"
    return f"unexpected {found!r} at column {column}; expected {_words(expected)}"


def parse(text: str, option: str = "--where") -> Compare | Logical:
    """The tree of a filter expression; raises EtlError with a one-line reason."""
    if not text.strip():
        raise EtlError(f"{option}: empty expression; write a condition such as plan == \"pro\"")
    try:
        tree = _parser().parse(text)
        if _depth(tree) > MAX_DEPTH:
            raise EtlError(f"{option}: nested too deeply (at most {MAX_DEPTH} levels of not, "
                           "and, or and the parentheses around them)")
        return _Tree().transform(tree)
    except VisitError as error:  # our own refusal, raised while building the tree
        if isinstance(error.orig_exc, EtlError):
            raise EtlError(f"{option}: {error.orig_exc}") from None
        raise
    except LarkError as error:
        raise EtlError(f"{option}: cannot parse {text!r}: {_problem(text, error)}; "
                       "see docs/reports.md, Filter expressions") from None


def _depth(tree: Tree) -> int:
    """How many not/and/or nodes nest at the deepest point; without recursion."""
    deepest, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Tree):
            depth += node.data in _LOGICAL
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in node.children)
    return deepest


def refs(node: Compare | Logical) -> list[Ref]:
    if isinstance(node, Compare):
        return [node.ref]
    return [r for part in node.parts for r in refs(part)]


class SqlCompiler:
    """Compiles a parsed filter to SQL text with named bound parameters.

    `column_for(ref)` says which JSON column a reference reads (or raises to
    refuse it); `wrap(ref, condition)` may wrap one comparison (e.g. in an
    EXISTS over a user's groups). Property names and values are parameters.
    """

    def __init__(self, dialect: str, params: dict, prefix: str = "f") -> None:
        self.dialect, self.params, self.prefix = dialect, params, prefix
        self.engine = dialect_for(dialect)  # the JSON access of that engine

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def text(self, column: str, name: str) -> str:
        return self.engine.json_text(column, self.bind(name))

    def number(self, column: str, name: str) -> str:
        return self.engine.json_number(column, self.bind(name))

    def present(self, column: str, name: str) -> str:
        return self.engine.json_present(column, self.bind(name))

    def compile(self, node: Compare | Logical, column_for: Callable[[Ref], str],
                wrap: Callable[[Ref, str], str] | None = None) -> str:
        if isinstance(node, Logical):
            parts = [self.compile(p, column_for, wrap) for p in node.parts]
            if node.op == "not":
                return f"(NOT coalesce({parts[0]}, false))"
            return "(" + f" {node.op.upper()} ".join(f"coalesce({p}, false)" for p in parts) + ")"
        column = column_for(node.ref)
        condition = self._compare(node, column)
        return wrap(node.ref, condition) if wrap else condition

    def _compare(self, node: Compare, column: str) -> str:
        name, op, value = node.ref.name, node.op, node.value
        if op == "is set":
            return self.present(column, name)
        if op == "is not set":
            return f"(NOT {self.present(column, name)})"
        if op in ("contains", "has"):
            return self._within(column, name, op, value)
        if op == "in":
            texts = [_as_text(v) for v in value]
            if not texts:
                return "false"
            return f"({self.text(column, name)} IN ({', '.join(self.bind(t) for t in texts)}))"
        if value is None:
            present = self.present(column, name)
            null = f"({self.text(column, name)} IS NULL)"
            return f"({present} AND {null})" if op == "==" else f"(NOT ({present} AND {null}))"
        if isinstance(value, int | float) and not isinstance(value, bool):
            sql_op = {"==": "=", "!=": "<>"}.get(op, op)
            return f"({self.number(column, name)} {sql_op} {self.bind(float(value))})"
        sql_op = {"==": "=", "!=": "<>"}[op]
        return f"({self.text(column, name)} {sql_op} {self.bind(_as_text(value))})"


    def _within(self, column: str, name: str, op: str, value: str) -> str:
        """`contains` and `"v" in`: on a list item by item (contains: an item holds v;
        in: an item is v), on any other value a substring of its text."""
        key, needle = self.bind(name), self.bind(value)
        if op == "contains":
            def item(element: str) -> str:
                return self.engine.contains(element, needle)
        else:
            def item(element: str) -> str:
                return f"{element} = {needle}"
        return (f"(CASE WHEN {self.engine.json_is_list(column, key)} "
                f"THEN {self.engine.json_any_element(column, key, item)} "
                f"ELSE {self.engine.contains(self.engine.json_text(column, key), needle)} END)")


def _as_text(value: Any) -> str:
    """A literal as the text `->>` gives for it: strings bare, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
