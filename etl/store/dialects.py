"""The thin layer where engines differ: one class per warehouse engine, whose
members are SQL fragments (types, JSON access, hashing) that the SQL templates
under `sql/` call as `{{ dialect.<name>(...) }}`.

A rule (which copy of an event wins, what a valid group id is, when a key
attributes) is written once, in a template; only these fragments differ. A new
engine (Spark is planned) is a new subclass here, not a copy of the rules.
SQLGlot was measured for this and rejected: it transpiles syntax, not the
engines' JSON semantics (DuckDB's json_type says 'BIGINT'/'VARCHAR' where
PostgreSQL's jsonb_typeof says 'number'/'string', and its DuckDB -> PostgreSQL
output of `json_extract(v, '$[*]')` silently dropped the wildcard).
"""

from __future__ import annotations


class Dialect:
    """What every engine must provide; the DuckDB and PostgreSQL subclasses fill it in."""

    name: str
    #: column type of a JSON document (properties, profile values)
    json: str
    #: text that sorts by bytes, never by a locale (keys and ids that order copies)
    bytewise_text: str
    #: column option asking for the cheapest compression of high-entropy text ('' for none)
    zstd: str


class DuckDB(Dialect):
    name = "duckdb"
    json = "JSON"
    bytewise_text = "VARCHAR"
    # DuckDB writes zstd faster than its default choice for properties and md5 ids,
    # and a third smaller for properties (measured on 1M bench events)
    zstd = "USING COMPRESSION zstd"


class PostgreSQL(Dialect):
    name = "postgresql"
    json = "JSONB"
    bytewise_text = 'VARCHAR COLLATE "C"'
    zstd = ""


DIALECTS: dict[str, Dialect] = {d.name: d for d in (DuckDB(), PostgreSQL())}


def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"no SQL dialect {name!r} (known: {', '.join(DIALECTS)})") from None
