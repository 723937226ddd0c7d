"""The thin layer where engines differ: one class per warehouse engine, whose
members are SQL fragments (types, JSON access, hashing) that the SQL templates
under `sql/` call as `{{ dialect.<name>(...) }}`.

A rule (which copy of an event wins, what a valid group id is, when a key
attributes) is written once, in a template; only these fragments differ. A new
engine (Spark: SparkSQL) is a new subclass here, not a copy of the rules.
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
    #: an 8-byte floating point type (Spark has no DOUBLE PRECISION)
    double: str = "DOUBLE PRECISION"
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

    def contains(self, text: str, part: str) -> str:
        """`part` occurs in `text` (NULL when either is NULL); Spark has no strpos."""
        return f"strpos({text}, {part}) > 0"

    def epoch_seconds(self, instant: str) -> str:
        """A TIMESTAMP's seconds since 1970-01-01 UTC, with its fraction, as a double
        (Spark's extract has no epoch field)."""
        return f"extract(epoch FROM {instant})"

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


# Spark SQL fragments below bind a value once with this shape, so an expression that
# is used several times is neither written out nor computed several times.
def _let(value: str, name: str, body: str) -> str:
    """`body` with the lambda variable `name` bound to `value` (Spark SQL has no LET)."""
    return f"element_at(transform(array({value}), {name} -> {body}), 1)"


# A JSON string token (a member name or a string value). Scanned left to right, every
# match starts at an opening quote: outside strings a JSON text has no quotes.
# Possessive loops: Java's regex would recurse once per character otherwise.
_SPARK_STRING_TOKEN = r"""r'"([^"\\]*+(?:\\.[^"\\]*+)*+)"'"""
# ... rewritten to start with an escaped quote, so that from_json's STRING reading
# (which decodes strings but gives other values as JSON text) tells them apart: a
# decoded string then starts with '"', no JSON text of another value does.
_SPARK_MARK = r"""r'"\\"$1"'"""
# JSON text as a sequence of a string, a number, or anything else up to the next of those
_SPARK_TOKEN = r"""r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|-?[0-9][-+.0-9eE]*|[^-"0-9]++'"""


def _from_json(text: str, schema: str) -> str:
    """Spark's from_json without Jackson's default limits (numbers of 1000 characters,
    1000 levels of nesting, strings of 20M characters), which DuckDB does not have: past
    one, the whole document would read as NULL."""
    unlimited = ", ".join(f"'{name}', '2147483647'" for name in ("maxNumLen", "maxNestingDepth", "maxStringLen"))
    return f"from_json({text}, '{schema}', map({unlimited}))"


# a character beyond U+FFFF escaped as its two UTF-16 surrogates; then the pieces of a
# JSON string's text: such a pair, any other escape, or the characters up to an escape
_SPARK_SURROGATES = r"""r'\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}'"""
_SPARK_ESCAPE = r"""r'\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\.|[^\\]++'"""
_SPARK_JSON_SPACE = "' \\t\\n\\r'"  # JSON's four white-space characters, in a Spark literal


class SparkSQL(Dialect):
    """Spark SQL (Spark 4, ANSI mode). A JSON column is a STRING holding JSON text.

    Members are read with from_json(doc, 'map<string,string>'), which keeps every
    member in document order, duplicate names included (so the last is found by
    position; get_json_object and a map lookup give the first). That reading decodes
    strings and writes other values as JSON text (numbers re-written by Jackson:
    1e3 as 1000.0); a second reading of the document with every string marked
    (_SPARK_MARK) says which members were strings. Numbers' text is written as
    DuckDB writes it (see _double_text).
    """

    name = "spark"
    json = "STRING"
    double = "DOUBLE"
    # Spark's default collation (UTF8_BINARY) compares strings by their UTF-8 bytes
    bytewise_text = "STRING"
    zstd = ""
    collate_bytewise = ""
    # Grouping 8-byte id hashes aggregates map-side before its shuffle, and the ids seen
    # twice are few (a broadcast semi-join); ranking every copy would shuffle and sort
    # every whole event by its id.
    rank_every_copy = False

    def days_between(self, later: str, earlier: str) -> str:
        return f"datediff({later}, {earlier})"

    def contains(self, text: str, part: str) -> str:
        return f"instr({text}, {part}) > 0"

    def epoch_seconds(self, instant: str) -> str:
        return f"(CAST(unix_micros({instant}) AS DOUBLE) / 1000000)"

    def date_series(self, first: str, last: str) -> str:
        return f"SELECT explode(sequence(CAST({first} AS DATE), CAST({last} AS DATE))) AS d"

    def id_hash(self, text: str) -> str:
        return f"xxhash64({text})"

    @staticmethod
    def _entries(doc: str, marked: bool) -> str:
        """The members of object `doc` as an array of (key, value) in document order;
        NULL when `doc` is not an object. Marked: names and string values start with '"'."""
        text = f"regexp_replace({doc}, {_SPARK_STRING_TOKEN}, {_SPARK_MARK})" if marked else doc
        return f"map_entries({_from_json(text, 'map<string,string>')})"

    @staticmethod
    def _quote(text: str) -> str:
        """Text as a JSON string."""
        return _let(f"to_json(array({text}))", "_q", "substr(_q, 2, length(_q) - 2)")

    def json_member(self, doc: str, key: str) -> str:
        # The last entry of that name; of a string, its marked value; of an object or
        # array, the value in the unmarked reading (same position, same names).
        last = f"try_element_at(filter({self._entries('_doc', marked=True)}, _e -> _e.key = concat('\"', {key})), -1)"
        unmarked = (f"try_element_at(filter({self._entries('_doc', marked=False)}, "
                    f"_p -> _p.key = {key}), -1).value")
        body = _let(last, "_m", f"CASE WHEN _m IS NULL THEN NULL WHEN _m.value IS NULL THEN 'null' "
                                f"WHEN left(_m.value, 1) = '\"' THEN {self._quote('substr(_m.value, 2)')} "
                                f"WHEN left(_m.value, 1) IN ('{{', '[') THEN {unmarked} "
                                f"ELSE _m.value END")
        return _let(doc, "_doc", body)

    @staticmethod
    def _start(value: str) -> str:
        """The first character of JSON text `value`, past white space."""
        return f"left(trim(LEADING {_SPARK_JSON_SPACE} FROM {value}), 1)"

    @staticmethod
    def _decode(value: str) -> str:
        """JSON text `value` read as a STRING: a string decoded, an object or array as
        compact JSON text, true/false as such, null as NULL."""
        listed = f"concat('[', {value}, ']')"
        return f"{_from_json(listed, 'array<string>')}[0]"

    def _items(self, value: str) -> str:
        """The elements of JSON array `value` as JSON texts (a string re-quoted)."""
        marked = _from_json(f"regexp_replace(_a, {_SPARK_STRING_TOKEN}, {_SPARK_MARK})", "array<string>")
        plain = _from_json("_a", "array<string>")
        element = (f"CASE WHEN _x IS NULL THEN 'null' WHEN left(_x, 1) = '\"' THEN {self._quote('substr(_x, 2)')} "
                   f"WHEN left(_x, 1) IN ('{{', '[') THEN {plain}[_i] ELSE _x END")
        return _let(value, "_a", f"transform({marked}, (_x, _i) -> {element})")

    def json_elements(self, relation: str) -> str:
        listed = (f"CASE WHEN value IS NULL THEN array() "
                  f"WHEN {self._start('value')} = '[' THEN {self._items('value')} "
                  f"ELSE array(value) END")
        return (f"SELECT * EXCEPT (listed), inline(listed) "  # noqa: S608 - our template expressions
                f"FROM (SELECT *, transform({listed}, (_x, _i) -> "
                f"named_struct('position', CAST(_i + 1 AS BIGINT), 'element', _x)) AS listed "
                f"FROM {relation}) AS with_lists")

    def json_is_string(self, value: str) -> str:
        return f"({self._start(value)} = '\"')"

    def json_string(self, value: str) -> str:
        # any value's text as DuckDB's json_extract_string gives it (breakdowns read
        # every element so): a number, and the numbers within an object or array, as
        # DuckDB writes them
        number_or_listed = (f"CASE WHEN {self._start('_t')} IN ('{{', '[') THEN {self._decode('_t')} "
                            f"ELSE trim(BOTH {_SPARK_JSON_SPACE} FROM _t) END")
        return _let(value, "_t", f"CASE WHEN {self._start('_t')} IN ('\"', 't', 'f', 'n') THEN {self._decode('_t')} "
                                 f"ELSE {self._numbers_rewritten(number_or_listed)} END")

    def _numbers_rewritten(self, text: str) -> str:
        """Compact JSON text (a number, or an object or array as Jackson writes it) with
        each number outside strings written as DuckDB writes it."""
        tokens = f"regexp_extract_all({text}, {_SPARK_TOKEN}, 0)"
        return (f"array_join(transform({tokens}, _w -> CASE WHEN _w RLIKE '^-?[0-9]' "
                f"THEN {self._number_text('_w')} WHEN _w RLIKE {_SPARK_SURROGATES} "
                f"THEN {self._surrogates_unescaped('_w')} ELSE _w END), '')")

    @staticmethod
    def _surrogates_unescaped(text: str) -> str:
        """Jackson escapes a character beyond U+FFFF as two \\u escapes (its surrogates);
        DuckDB writes the character itself."""
        pieces = f"regexp_extract_all({text}, {_SPARK_ESCAPE}, 0)"
        return (f"array_join(transform({pieces}, _g -> CASE WHEN _g RLIKE {_SPARK_SURROGATES} "
                f"THEN decode(unhex(concat(substr(_g, 3, 4), substr(_g, 9, 4))), 'UTF-16BE') ELSE _g END), '')")

    def _number_text(self, number: str) -> str:
        """JSON number text as DuckDB writes it: an integer literal as written (-0 as 0),
        any other number as the double it reads (_double_text)."""
        return _let(number, "_n", f"CASE WHEN _n RLIKE '^-?[0-9]+$' THEN CASE WHEN _n = '-0' THEN '0' ELSE _n END "
                                  f"ELSE {self._double_text('CAST(_n AS DOUBLE)')} END")

    @staticmethod
    def _double_text(number: str) -> str:
        """A double written as DuckDB (yyjson) writes it: the shortest digits that read
        back as the same double; plain when the decimal point falls within 21 digits
        left or 5 zeros right of them (1000.0, 0.000001), else 1.5e-7, 1e21.

        The digits come from Spark's CAST to STRING (Java's Double.toString), which
        before Java 19 may give more digits than needed (1e23 as 9.999999999999999E22):
        a long result or a subnormal is shortened to the first length whose rounding,
        down or up, reads back as the same double."""
        # Java writes [-]I.F or [-]I.FE[-]X; as digits D (no leading or trailing
        # zeros) and the position of the decimal point relative to D's start
        parsed = ("named_struct('d', trim(BOTH '0' FROM concat(_i, _f)), "
                  "'dot', length(_i) + _x - (length(concat(_i, _f)) - length(trim(LEADING '0' FROM concat(_i, _f)))))")
        java = _let("regexp_extract(_s, '^-?([0-9]+)', 1)", "_i", _let(
            "regexp_extract(_s, '[.]([0-9]+)', 1)", "_f", _let(
                "CAST(coalesce(nullif(regexp_extract(_s, 'E(-?[0-9]+)$', 1), ''), '0') AS INT)", "_x", parsed)))

        # at each length _p, the digits rounded down and up; of those that read back,
        # the one nearer Java's digits
        candidates = ("array(named_struct('d', substr(_j.d, 1, _p), 'dot', _j.dot), "
                      "named_struct('d', _u, 'dot', _j.dot + length(_u) - _p))")
        reading_back = (f"filter({candidates}, _y -> "
                        f"CAST(concat('0.', _y.d, 'E', CAST(_y.dot AS STRING)) AS DOUBLE) = abs(_v))")
        nearer = ("CASE WHEN size(_z) = 2 AND substr(_j.d, _p + 1, 1) >= '5' THEN _z[1] "
                  "ELSE try_element_at(_z, 1) END")
        up = "CAST(CAST(substr(_j.d, 1, _p) AS DECIMAL(18, 0)) + 1 AS STRING)"
        at_length = _let(up, "_u", _let(reading_back, "_z", nearer))
        shorter = (f"try_element_at(filter(transform(sequence(1, greatest(length(_j.d) - 1, 1)), _p -> {at_length}), "
                   f"_c -> _c IS NOT NULL), 1)")
        shortest = (f"CASE WHEN length(_j.d) >= 16 OR (abs(_v) < 2.2250738585072014E-308D AND _v <> 0) "
                    f"THEN coalesce({shorter}, _j) ELSE _j END")
        layout = ("concat(CASE WHEN left(_s, 1) = '-' THEN '-' ELSE '' END, CASE "
                  "WHEN _r.d = '' THEN '0.0' "
                  "WHEN _r.dot > 21 OR _r.dot <= -6 THEN concat(left(_r.d, 1), "
                  "CASE WHEN length(_r.d) > 1 THEN concat('.', substr(_r.d, 2)) ELSE '' END, 'e', CAST(_r.dot - 1 AS STRING)) "
                  "WHEN _r.dot <= 0 THEN concat('0.', repeat('0', -_r.dot), _r.d) "
                  "WHEN length(_r.d) <= _r.dot THEN concat(_r.d, repeat('0', _r.dot - length(_r.d)), '.0') "
                  "ELSE concat(substr(_r.d, 1, _r.dot), '.', substr(_r.d, _r.dot + 1)) END)")
        trimmed = "named_struct('d', trim(TRAILING '0' FROM _k.d), 'dot', _k.dot)"
        return _let(number, "_v", _let("CAST(_v AS STRING)", "_s", _let(
            java, "_j", _let(shortest, "_k", _let(trimmed, "_r", layout)))))

    def json_int64_text(self, value: str) -> str:
        # an integer literal: exact range check; any other number: the double DuckDB
        # reads, when whole and in range (so 12345678901234567.0 gives ...568)
        double = _let("CAST(_t AS DOUBLE)", "_d",
                      "CASE WHEN _d >= -9.223372036854775808E18D AND _d < 9.223372036854775808E18D "
                      "AND _d = CAST(CAST(_d AS BIGINT) AS DOUBLE) THEN CAST(CAST(_d AS BIGINT) AS STRING) END")
        return _let(f"trim(BOTH {_SPARK_JSON_SPACE} FROM {value})", "_t",
                    f"CASE WHEN _t RLIKE '^-?[0-9]+$' THEN CAST(try_cast(_t AS BIGINT) AS STRING) "
                    f"WHEN _t RLIKE '^-?[0-9]' THEN {double} END")

    @staticmethod
    def _lower(text: str) -> str:
        """Lower case one code point at a time, as DuckDB's lower: Java's (Spark's) writes
        U+0130 as i and a combining dot, and a word-final capital sigma as final sigma."""
        return f"lower(replace(replace({text}, '\\u0130', 'i'), '\\u03a3', '\\u03c3'))"

    def json_has_other_case_key(self, doc: str, key: str) -> str:
        return (f"coalesce(exists(map_keys({_from_json(doc, 'map<string,string>')}), "
                f"_k -> {self._lower('_k')} = {self._lower(key)} AND _k <> {key}), false)")

    def json_text(self, doc: str, key: str) -> str:
        return self.json_string(self.json_member(doc, key))

    def json_number(self, doc: str, key: str) -> str:
        return _let(self.json_member(doc, key), "_t",
                    "CASE WHEN _t RLIKE '^-?[0-9]' THEN CAST(_t AS DOUBLE) END")

    def json_present(self, doc: str, key: str) -> str:
        return f"({self.json_member(doc, key)} IS NOT NULL)"

    def json_is_list(self, doc: str, key: str) -> str:
        return f"(left({self.json_member(doc, key)}, 1) = '[')"

    def json_any_element(self, doc: str, key: str, test: Callable[[str], str]) -> str:
        texts = f"transform({self._items('_l')}, _y -> {self.json_string('_y')})"
        return _let(self.json_member(doc, key), "_l",
                    f"CASE WHEN left(_l, 1) = '[' THEN exists({texts}, element -> coalesce({test('element')}, false)) "
                    f"ELSE false END")

    def json_object_keys(self, doc: str) -> str:
        return f"explode(map_keys({_from_json(doc, 'map<string,string>')}))"


DIALECTS: dict[str, Dialect] = {d.name: d for d in (DuckDB(), PostgreSQL(), SparkSQL())}


def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"no SQL dialect {name!r} (known: {', '.join(DIALECTS)})") from None
