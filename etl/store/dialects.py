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

from collections.abc import Callable

# the largest finite double, written out (1.7976931348623157e308)
_DOUBLE_MAX = "179769313486231570" + "0" * 291


class Dialect:
    """What every engine must provide; the DuckDB and PostgreSQL subclasses fill it in.

    Methods take SQL expressions (text written by our templates, never values from
    users or data) and return SQL expressions.
    """

    name: str
    #: column type of a JSON document (properties, profile values)
    json: str
    #: text that sorts by bytes, never by a locale (keys and ids that order copies)
    bytewise_text: str
    #: column option asking for the cheapest compression of high-entropy text ('' for none)
    zstd: str
    #: suffix making a text expression sort by bytes, as bytewise_text columns do
    collate_bytewise: str
    #: how a dedupe finds an event's copies (the rule itself is sql/store/_rules.sql):
    #: False, group id hashes first and rank only ids seen twice (DuckDB: cheaper than
    #: a window over every event); True, rank or anti-join every copy (PostgreSQL: its
    #: hash grouping spills at the default work_mem; measured on 1M bench events, a
    #: day took 26.6 s with the grouping and 18.5 s without)
    rank_every_copy: bool
    #: settings of a writing session (the day's run, migrations), as (name, value):
    #: PostgreSQL's JIT compiles each large statement of a day anew, which cost more
    #: than it won (measured on a 1M-event day: group_values 1.7 s of its 4.5 s was
    #: JIT; attribution 12-14 s with it, 9-10 s without)
    writer_settings: tuple[tuple[str, str], ...] = ()

    def days_between(self, later: str, earlier: str) -> str:
        """The whole days from DATE `earlier` to DATE `later` (DuckDB and PostgreSQL
        subtract dates into days; Spark into an interval)."""
        return f"({later} - {earlier})"

    def date_series(self, first: str, last: str) -> str:
        """A query of one DATE column `d`: every day from `first` to `last`."""
        return (f"SELECT CAST(c.d AS DATE) AS d FROM generate_series(CAST(CAST({first} AS DATE) AS TIMESTAMP), "  # noqa: S608
                f"CAST(CAST({last} AS DATE) AS TIMESTAMP), INTERVAL '1 day') AS c(d)")

    def id_hash(self, text: str) -> str:
        """A cheap 64-bit hash of `text`, to group ids before comparing them exactly."""
        raise NotImplementedError

    def json_member(self, doc: str, key: str) -> str:
        """The member of JSON object `doc` named by the text expression `key` (NULL when
        absent); of duplicate names the LAST wins, as in JSON.parse and JSONB."""
        raise NotImplementedError

    def json_elements(self, relation: str) -> str:
        """A query over `relation` (which has a JSON column `value`) giving each row once
        per element, with `position` (1-based) and `element`: a JSON array gives its
        elements, any other value itself at position 1, a NULL value no row."""
        raise NotImplementedError

    def json_is_string(self, value: str) -> str:
        """A condition: the JSON value is a string."""
        raise NotImplementedError

    def json_object_keys(self, doc: str) -> str:
        """A set-returning select item: each member name of JSON object `doc`, a row each."""
        raise NotImplementedError

    def json_string(self, value: str) -> str:
        """The text of a JSON string value."""
        raise NotImplementedError

    def json_int64_text(self, value: str) -> str:
        """The decimal integer text of a JSON number whose value is a whole number in the
        signed 64-bit range (`1e3` and `1000.0` give '1000', `-0` gives '0'); NULL for any
        other number and for values that are not numbers."""
        raise NotImplementedError

    def json_has_other_case_key(self, doc: str, key: str) -> str:
        """A condition: object `doc` has a member whose name equals `key` ignoring case
        but not exactly."""
        raise NotImplementedError

    def json_text(self, doc: str, key: str) -> str:
        """The text of member `key` (a bound name) of `doc`: a string as is, any other
        value as its JSON text; NULL when absent. What filters compare with."""
        raise NotImplementedError

    def json_number(self, doc: str, key: str) -> str:
        """Member `key` of `doc` as a double when it is a JSON number, else NULL."""
        raise NotImplementedError

    def json_present(self, doc: str, key: str) -> str:
        """A condition: `doc` has a member `key` (even a null one)."""
        raise NotImplementedError

    def json_is_list(self, doc: str, key: str) -> str:
        """A condition: member `key` of `doc` is a JSON array."""
        raise NotImplementedError

    def json_any_element(self, doc: str, key: str, test: Callable[[str], str]) -> str:
        """A condition: member `key` of `doc` is an array with an element whose text (as
        json_text gives it: a string as is, any other value as its JSON text) passes
        `test(element)`. Mixpanel reads a list property item by item in filters."""
        raise NotImplementedError


class DuckDB(Dialect):
    name = "duckdb"
    json = "JSON"
    bytewise_text = "VARCHAR"
    # DuckDB writes zstd faster than its default choice for properties and md5 ids,
    # and a third smaller for properties (measured on 1M bench events)
    zstd = "USING COMPRESSION zstd"
    collate_bytewise = ""
    rank_every_copy = False

    def id_hash(self, text: str) -> str:
        return f"hash({text})"

    def json_member(self, doc: str, key: str) -> str:
        # json_extract gives the FIRST of duplicate names. A document that names the
        # key twice contains its JSON text twice (events.properties is DuckDB's own
        # rewrite, with the same escaping as to_json), so only those documents take the
        # exact last-wins lookup over json_keys. The count runs only where the key is
        # present (measured on 1M bench events: group_values 0.73 s with a count on
        # every row, 0.50 s so, 0.45 s with no check at all).
        plain = f"json_extract({doc}, {self._path(key)})"
        needle = f"CAST(to_json({key}) AS VARCHAR)"
        return (f"CASE WHEN {plain} IS NULL THEN NULL "
                f"WHEN strlen({doc}) - strlen(replace({doc}, {needle}, '')) > strlen({needle}) "
                f"THEN json_extract({doc}, '$.*')[len(json_keys({doc})) + 1 "
                f"- list_position(list_reverse(json_keys({doc})), {key})] "
                f"ELSE {plain} END")

    def json_elements(self, relation: str) -> str:
        # One pass: an absent value gives an empty list rather than being filtered (a
        # filter would be pushed into the join that made `value` and extract it twice).
        return (f"SELECT * EXCLUDE (listed), generate_subscripts(listed, 1) AS position, "  # noqa: S608 - our template expressions
                f"unnest(listed) AS element "
                f"FROM (SELECT *, CASE WHEN value IS NULL THEN []::JSON[] "
                f"WHEN json_type(value) = 'ARRAY' THEN json_extract(value, '$[*]') "
                f"ELSE [value] END AS listed FROM {relation}) AS with_lists")

    def json_is_string(self, value: str) -> str:
        return f"json_type({value}) = 'VARCHAR'"

    def json_string(self, value: str) -> str:
        return f"json_extract_string({value}, '$')"

    def json_int64_text(self, value: str) -> str:
        # json_type says how DuckDB read the number: BIGINT as is; UBIGINT up to 2^63-1;
        # DOUBLE (a fraction or exponent, or an integer beyond 64 bits) when whole and
        # in range, unless written as an integer (then it was beyond 64 bits).
        v = value
        as_double = f"CAST({v} AS DOUBLE)"
        return (f"CASE json_type({v}) "
                f"WHEN 'BIGINT' THEN json_extract_string({v}, '$') "
                f"WHEN 'UBIGINT' THEN CASE WHEN CAST({v} AS UBIGINT) <= 9223372036854775807 "
                f"THEN json_extract_string({v}, '$') END "
                f"WHEN 'DOUBLE' THEN CASE WHEN {as_double} = trunc({as_double}) "
                f"AND {as_double} >= -9223372036854775808::DOUBLE "
                f"AND {as_double} < 9223372036854775808::DOUBLE "
                f"AND NOT regexp_full_match(CAST({v} AS VARCHAR), '-?[0-9]+') "
                f"THEN CAST(CAST({as_double} AS BIGINT) AS VARCHAR) END END")

    def json_has_other_case_key(self, doc: str, key: str) -> str:
        return f"len(list_filter(json_keys({doc}), lambda k: lower(k) = lower({key}) AND k <> {key})) > 0"

    @staticmethod
    def _path(key: str) -> str:
        """A JSON path for one member, built in SQL from the bound name (quotes escaped)."""
        return f"""('$."' || replace(replace({key}, '\\', '\\\\'), '"', '\\"') || '"')"""

    def json_text(self, doc: str, key: str) -> str:
        # through json_member: of duplicate names the last, as attribution reads them
        return f"json_extract_string({self.json_member(doc, key)}, '$')"

    def json_number(self, doc: str, key: str) -> str:
        member = self.json_member(doc, key)
        return (f"(CASE WHEN json_type({member}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') "
                f"THEN CAST({member} AS DOUBLE) END)")

    def json_present(self, doc: str, key: str) -> str:
        return f"({self.json_member(doc, key)} IS NOT NULL)"

    def json_is_list(self, doc: str, key: str) -> str:
        return f"(json_type({self.json_member(doc, key)}) = 'ARRAY')"

    def json_any_element(self, doc: str, key: str, test: Callable[[str], str]) -> str:
        member = self.json_member(doc, key)
        texts = f"json_extract_string(CASE WHEN json_type({member}) = 'ARRAY' THEN {member} END, '$[*]')"
        return f"coalesce(len(list_filter({texts}, lambda element: {test('element')})) > 0, false)"

    def json_object_keys(self, doc: str) -> str:
        return f"unnest(json_keys({doc}))"


class PostgreSQL(Dialect):
    name = "postgresql"
    json = "JSONB"
    bytewise_text = 'VARCHAR COLLATE "C"'
    zstd = ""
    collate_bytewise = ' COLLATE "C"'
    rank_every_copy = True
    writer_settings = (("jit", "off"),)

    def id_hash(self, text: str) -> str:
        return f"hashtextextended({text}, 0)"

    def json_member(self, doc: str, key: str) -> str:
        return f"({doc} -> {key})"  # JSONB keeps the last of duplicate names

    def json_elements(self, relation: str) -> str:
        return (f"SELECT p.*, CAST(1 AS BIGINT) AS position, p.value AS element "  # noqa: S608 - our template expressions
                f"FROM {relation} AS p WHERE jsonb_typeof(p.value) <> 'array' "
                f"UNION ALL "
                f"SELECT p.*, x.position, x.element FROM {relation} AS p "
                f"CROSS JOIN LATERAL jsonb_array_elements(p.value) WITH ORDINALITY AS x(element, position) "
                f"WHERE jsonb_typeof(p.value) = 'array'")

    def json_is_string(self, value: str) -> str:
        return f"jsonb_typeof({value}) = 'string'"

    def json_string(self, value: str) -> str:
        return f"({value} #>> '{{}}')"

    def json_int64_text(self, value: str) -> str:
        # An integer literal: exact range check. Otherwise the value DuckDB would read,
        # a double (so 12345678901234567.0 gives ...568 on both engines): whole and in range.
        v = value
        n = f"CAST({v} AS numeric)"
        return (f"CASE WHEN jsonb_typeof({v}) = 'number' THEN CASE "  # noqa: S608 - our template expressions
                f"WHEN ({v} #>> '{{}}') ~ '^-?[0-9]+$' "
                f"THEN CASE WHEN {n} BETWEEN -9223372036854775808 AND 9223372036854775807 "
                f"THEN {v} #>> '{{}}' END "
                f"ELSE (SELECT CASE WHEN d = trunc(d) AND d >= CAST(-9223372036854775808 AS float8) "
                f"AND d < CAST(9223372036854775808 AS float8) THEN CAST(CAST(d AS BIGINT) AS TEXT) END "
                f"FROM (SELECT {self._as_double(n)} AS d) AS rounded) "
                f"END END")

    def json_has_other_case_key(self, doc: str, key: str) -> str:
        return (f"(jsonb_typeof({doc}) = 'object' AND EXISTS (SELECT 1 FROM jsonb_object_keys({doc}) AS k "  # noqa: S608 - our template expressions
                f"WHERE lower(k) = lower({key}) AND k <> {key}))")

    def json_text(self, doc: str, key: str) -> str:
        return f"({doc} ->> {key})"

    def json_number(self, doc: str, key: str) -> str:
        return (f"(CASE WHEN jsonb_typeof({doc} -> {key}) = 'number' "
                f"THEN {self._as_double(f'CAST({doc} -> {key} AS numeric)')} END)")

    @staticmethod
    def _as_double(n: str) -> str:
        """Numeric `n` as DuckDB reads a JSON number: a double; beyond its range an
        infinity, and 0 at most half the least subnormal, where PostgreSQL's float8
        cast would raise (the 2^1075 product finds those without underflowing)."""
        return (f"CASE WHEN {n} > {_DOUBLE_MAX} THEN CAST('Infinity' AS float8) "
                f"WHEN {n} < -{_DOUBLE_MAX} THEN CAST('-Infinity' AS float8) "
                f"WHEN abs({n}) * {2 ** 1075} <= 1 THEN CAST(0 AS float8) "
                f"ELSE CAST({n} AS float8) END")

    def json_present(self, doc: str, key: str) -> str:
        return f"(({doc} -> {key}) IS NOT NULL)"

    def json_is_list(self, doc: str, key: str) -> str:
        return f"(jsonb_typeof({doc} -> {key}) = 'array')"

    def json_any_element(self, doc: str, key: str, test: Callable[[str], str]) -> str:
        # jsonb_array_elements_text raises on a non-array: the CASE keeps it from one
        return (f"(CASE WHEN jsonb_typeof({doc} -> {key}) = 'array' THEN EXISTS (SELECT 1 FROM "  # noqa: S608 - our template expressions
                f"jsonb_array_elements_text({doc} -> {key}) AS listed(element) WHERE {test('listed.element')}) "
                f"ELSE false END)")

    def json_object_keys(self, doc: str) -> str:
        return f"jsonb_object_keys({doc})"


class SparkSQL(Dialect):
    """Spark SQL (the Spark engine, etl.store.spark): JSON is text."""

    name = "spark"
    json = "STRING"
    bytewise_text = "STRING"
    zstd = ""
    collate_bytewise = ""
    rank_every_copy = True

    def id_hash(self, text: str) -> str:
        return f"xxhash64({text})"

    def days_between(self, later: str, earlier: str) -> str:
        return f"datediff({later}, {earlier})"

    def date_series(self, first: str, last: str) -> str:
        return f"SELECT explode(sequence(CAST({first} AS DATE), CAST({last} AS DATE))) AS d"

    # ROUGH placeholders (being replaced by exact ones): to exercise the write path
    def json_member(self, doc: str, key: str) -> str:
        return f"to_json(element_at(from_json({doc}, 'map<string,variant>'), {key}))"

    def json_elements(self, relation: str) -> str:
        return (f"SELECT r.*, p.pos + 1 AS position, p.col AS element FROM {relation} AS r "  # noqa: S608
                f"LATERAL VIEW posexplode(CASE WHEN r.value IS NULL THEN CAST(array() AS array<string>) "
                f"WHEN ltrim(r.value) LIKE '[%' THEN transform(from_json(r.value, 'array<variant>'), x -> to_json(x)) "
                f"ELSE array(r.value) END) p AS pos, col")

    def json_is_string(self, value: str) -> str:
        return f"(schema_of_variant(parse_json({value})) = 'STRING')"

    def json_string(self, value: str) -> str:
        return f"variant_get(parse_json({value}), '$', 'string')"

    def json_int64_text(self, value: str) -> str:
        return (f"(CASE WHEN schema_of_variant(parse_json({value})) IN ('BIGINT', 'INT', 'SMALLINT', 'TINYINT') "
                f"THEN CAST(variant_get(parse_json({value}), '$', 'bigint') AS STRING) END)")

    def json_has_other_case_key(self, doc: str, key: str) -> str:
        return f"exists(json_object_keys({doc}), k -> lower(k) = lower({key}) AND k <> {key})"

    def json_object_keys(self, doc: str) -> str:
        return f"explode(json_object_keys({doc}))"


DIALECTS: dict[str, Dialect] = {d.name: d for d in (DuckDB(), PostgreSQL(), SparkSQL())}


def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"no SQL dialect {name!r} (known: {', '.join(DIALECTS)})") from None
