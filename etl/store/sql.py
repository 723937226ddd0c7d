"""The warehouse's SQL files: found inside the installed package (`etl.sql`, the
top-level `sql/` folder of the checkout) and run statement by statement.

A file is `<layer>/<name>.sql`, one text for every engine: a Jinja template
whose engine parts come from etl.store.dialects. Found with
`importlib.resources`, so a wheel installed anywhere reads the same files as a
checkout.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa

from etl.store.dialects import dialect_for

if TYPE_CHECKING:  # Jinja is imported when a file is rendered, not by a reader's schema check
    import jinja2


def _shared_template(name: str) -> str:
    """A template imported by another (`{% import 'model/_rules.sql' as rules with context %}`):
    the rules several SQL files share, written once."""
    import jinja2

    try:
        return load_sql(name.removesuffix(".sql"))
    except FileNotFoundError:
        raise jinja2.TemplateNotFound(name) from None


@cache
def _jinja() -> jinja2.Environment:
    """Templates are our own files; StrictUndefined makes a misspelt name an error, not ''."""
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              loader=jinja2.FunctionLoader(_shared_template),
                              autoescape=False)  # noqa: S701 - SQL, not HTML


@cache
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`; `name` is `<layer>/<name>`."""
    path = resources.files("etl.sql").joinpath(f"{name}.sql")
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {name}.sql in the etl.sql package")
    return path.read_text(encoding="utf-8")


def render_sql(name: str, dialect: str, **context: object) -> str:
    """A SQL file rendered as a Jinja template for one engine: `{{ dialect.json }}` and
    the other members of etl.store.dialects give the engine's fragments; `context`
    gives the pieces a caller composes (never values from users: those are bound)."""
    return _render(_template(name), dialect, context)


def render_text(text: str, dialect: str, **context: object) -> str:
    """SQL text read by the caller (a migration file) rendered as render_sql renders a file."""
    return _render(_jinja().from_string(text), dialect, context)


def _render(template: jinja2.Template, dialect: str, context: dict) -> str:
    return template.render(dialect=dialect_for(dialect), **context)


@cache
def _template(name: str) -> jinja2.Template:
    """A file's template, compiled once: the engine is given when it renders."""
    return _jinja().from_string(load_sql(name))


def strip_comments(sql: str) -> str:
    """Drop whole-line `--` comments."""
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def split_statements(script: str) -> list[str]:
    """Split a script on semicolons that end a line (our SQL files keep to that)."""
    body = strip_comments(script)
    return [part.strip() for part in re.split(r";\s*(?:\n|$)", body) if part.strip()]


def sql_clause(sql: str, params: dict | None = None) -> sa.TextClause:
    """A text clause whose list-valued parameters render as IN (...) lists."""
    clause = sa.text(sql)
    lists = [name for name, value in (params or {}).items() if isinstance(value, list | tuple)]
    lists = [name for name in lists if f":{name}" in sql] or (["dates"] if ":dates" in sql else [])
    if lists:
        clause = clause.bindparams(*[sa.bindparam(name, expanding=True) for name in lists])
    return clause
