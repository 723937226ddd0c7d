"""Mixpanel's segmentation expressions (the Engage API's `where`), read into the
filter grammar of etl.serve.filters, which compiles them to bound SQL.

The subset the filter grammar can express:

    properties["x"] == "y"      != > >= < <=  against a string, number, true, false or null
    defined(properties["x"])    the property is set (not defined(...): it is not)
    "v" in properties["x"]      a list holds the item "v"; any other property holds "v"
                                in its text (Mixpanel's membership and substring): the
                                filter grammar's same form
    and, or, not, parentheses

Anything else (functions other than defined, arithmetic, `behaviors`) is refused
with a one-line reason, never half-read.
"""

from __future__ import annotations

import json

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError

from etl.errors import EtlError

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | _DEFINED "(" ref ")"      -> defined
     | literal _IN ref           -> member
     | ref OP literal            -> comparison
ref: "properties" "[" STRING "]"
?literal: STRING -> string
        | SIGNED_NUMBER -> number
        | _TRUE -> true
        | _FALSE -> false
        | _NULL -> null
OP: "==" | "!=" | ">=" | "<=" | ">" | "<"
_OR.2: /or\b/
_AND.2: /and\b/
_NOT.2: /not\b/
_IN.2: /in\b/
_DEFINED.2: /defined\b/
_TRUE.2: /true\b/
_FALSE.2: /false\b/
_NULL.2: /null\b/
STRING: /"(?:[^"\\]|\\.)*"/
%import common.SIGNED_NUMBER
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr")
# a request's filter, in characters: each condition costs a JSON lookup per profile, and
# 3,000 of them took 8 s on the demo warehouse; 10,000 characters hold ~200
MAX_LENGTH = 10_000


def check_length(expression: str, name: str = "where") -> None:
    """Refuse a filter too long to answer in reasonable time (the server's, not Mixpanel's, limit)."""
    if len(expression) > MAX_LENGTH:
        raise EtlError(f"{name}: at most {MAX_LENGTH:,} characters, got {len(expression):,}")


@v_args(inline=True)
class _ToFilter(Transformer):
    """Each node as text of the filter grammar; strings re-quoted by json.dumps."""

    def ref(self, name: Token) -> str:
        return f"properties[{json.dumps(_string(name))}]"

    def string(self, token: Token) -> str:
        return json.dumps(_string(token))

    def number(self, token: Token) -> str:
        return str(token)

    def true(self) -> str:
        return "true"

    def false(self) -> str:
        return "false"

    def null(self) -> str:
        return "null"

    def comparison(self, ref: str, op: Token, value: str) -> str:
        return f"({ref} {op} {value})"

    def defined(self, ref: str) -> str:
        return f"({ref} is set)"

    def member(self, value: str, ref: str) -> str:
        if not value.startswith('"'):
            raise EtlError(f"'in' looks for a string in a property, got {value}")
        return f"({value} in {ref})"

    def negation(self, part: str) -> str:
        return f"(not {part})"

    def and_expr(self, *parts: str) -> str:
        return "(" + " and ".join(parts) + ")"

    def or_expr(self, *parts: str) -> str:
        return "(" + " or ".join(parts) + ")"


def _string(token: Token) -> str:
    try:
        return json.loads(token)
    except ValueError:
        raise EtlError(f"bad string {token!s} at column {token.column}") from None


def to_filter(expression: str) -> str:
    """The filter-grammar text of a Mixpanel `where` expression; EtlError says what is wrong."""
    check_length(expression)
    try:
        return _ToFilter().transform(_PARSER.parse(expression))
    except RecursionError:
        raise EtlError("where: nested too deeply") from None
    except VisitError as error:
        if isinstance(error.orig_exc, RecursionError):
            raise EtlError("where: nested too deeply") from None
        if isinstance(error.orig_exc, EtlError):
            raise EtlError(f"where: {error.orig_exc}") from None
        raise
    except LarkError as error:
        column = getattr(error, "column", None)
        place = f" at column {column}" if isinstance(column, int) and column > 0 else ""
        raise EtlError(f"where: cannot parse {expression!r}{place}: supported are properties[\"name\"] "
                       "compared with ==, !=, >, >=, <, <=, defined(properties[\"name\"]), "
                       "\"value\" in properties[\"name\"], and, or, not, parentheses") from None
