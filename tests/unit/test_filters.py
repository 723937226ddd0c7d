"""Layer 1: the filter grammar (etl.serve.filters): each construct's parsed tree,
its compiled SQL text and bound parameters on DuckDB and PostgreSQL, and each
error a user can make, with its exact message. tests/sql/test_filters.py runs
the compiled SQL on both engines."""

from __future__ import annotations

import pytest

from etl.errors import EtlError
from etl.serve.filters import Compare, Logical, Ref, SqlCompiler, parse, refs

# --- the parsed tree ------------------------------------------------------------


def eq(name: str, value: object, scope: str | None = None, op: str = "==") -> Compare:
    return Compare(Ref(scope, name), op, value)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        # property references, one of each kind
        ('plan == "pro"', eq("plan", "pro")),
        ('properties["plan name"] == "pro"', eq("plan name", "pro")),
        ('$browser == "Chrome"', eq("$browser", "Chrome")),
        ('user.tier == "gold"', eq("tier", "gold", "user")),
        ('user["tier level"] == "gold"', eq("tier level", "gold", "user")),
        ('group.plan == "x"', eq("plan", "x", "group")),
        ('company_id.plan == "enterprise"', eq("plan", "enterprise", "company_id")),
        # comparisons
        ('plan != "pro"', eq("plan", "pro", op="!=")),
        ("n > 3", eq("n", 3, op=">")),
        ("n >= -2.5", eq("n", -2.5, op=">=")),
        ("n < 1e3", eq("n", 1000.0, op="<")),
        ("n <= +4", eq("n", 4, op="<=")),
        ('plan in ["a", "b"]', eq("plan", ["a", "b"], op="in")),
        ("n in [1, 2.5, true]", eq("n", [1, 2.5, True], op="in")),
        ("plan in []", eq("plan", [], op="in")),
        ('plan in ["a", null]', eq("plan", ["a"], op="in")),  # null in a list is dropped
        ('plan contains "ro"', eq("plan", "ro", op="contains")),
        ('"b2b" in tags', eq("tags", "b2b", op="has")),  # Mixpanel's form: membership in a list
        ("plan is set", eq("plan", None, op="is set")),
        ("plan is not set", eq("plan", None, op="is not set")),
        # literals
        ("flag == true", eq("flag", True)),
        ("flag != false", eq("flag", False, op="!=")),
        ("plan == null", eq("plan", None)),
        ("n == 0", eq("n", 0)),
        ('plan == ""', eq("plan", "")),
        # string escapes (JSON's), in values and in quoted names
        (r'plan == "a\"b\\c\u00e9\n\t/"', eq("plan", 'a"b\\c\u00e9\n\t/')),
        (r'properties["we\"ird\\name"] is set', eq('we"ird\\name', None, op="is set")),
        # keywords need a word boundary: these are names
        ("index == 1 and order == 2 or nothing is set",
         Logical("or", (Logical("and", (eq("index", 1), eq("order", 2))), eq("nothing", None, op="is set")))),
    ],
)
def test_each_construct_parses_to_its_tree(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_numbers_keep_their_kind() -> None:
    assert type(parse("n == 3").value) is int
    assert type(parse("n == 3.0").value) is float
    assert type(parse("n == 3E2").value) is float


A, B, C = eq("a", 1), eq("b", 2), eq("c", 3)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a == 1 and b == 2 and c == 3", Logical("and", (A, B, C))),
        ("a == 1 or b == 2 or c == 3", Logical("or", (A, B, C))),
        # and binds tighter than or, not tighter than and
        ("a == 1 or b == 2 and c == 3", Logical("or", (A, Logical("and", (B, C))))),
        ("a == 1 and b == 2 or c == 3", Logical("or", (Logical("and", (A, B)), C))),
        ("not a == 1 and b == 2", Logical("and", (Logical("not", (A,)), B))),
        ("not not a == 1", Logical("not", (Logical("not", (A,)),))),
        # parentheses override
        ("(a == 1 or b == 2) and c == 3", Logical("and", (Logical("or", (A, B)), C))),
        ("not (a == 1 or b == 2)", Logical("not", (Logical("or", (A, B)),))),
        ("((a == 1))", A),
        # whitespace is free
        ("a==1and b==2", Logical("and", (A, B))),
    ],
)
def test_precedence_and_parentheses(text: str, tree: object) -> None:
    assert parse(text) == tree


def test_refs_lists_every_reference_in_order() -> None:
    node = parse('user.tier == "g" or (plan is set and not company_id["plan"] == "x")')
    assert refs(node) == [Ref("user", "tier"), Ref(None, "plan"), Ref("company_id", "plan")]


# --- errors -----------------------------------------------------------------------

SEE = "; see docs/reports.md, Filter expressions"
OPERATORS = "(operators: ==, !=, >, >=, <, <=, in, contains, is set, is not set)"
ESCAPES = r'(escapes: \" \\ \/ \b \f \n \r \t \uXXXX)'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # empty input
        ("", '--where: empty expression; write a condition such as plan == "pro"'),
        ("  \t", '--where: empty expression; write a condition such as plan == "pro"'),
        # unterminated string
        ('plan == "pro', "--where: cannot parse 'plan == \"pro': unterminated string starting at column 9" + SEE),
        ('properties["plan] == 1',
         "--where: cannot parse 'properties[\"plan] == 1': unterminated string starting at column 12" + SEE),
        # unknown operator
        ('plan = "pro"', f"--where: cannot parse 'plan = \"pro\"': unknown operator '=' at column 6 {OPERATORS}" + SEE),
        ('plan like "x"',
         f"--where: cannot parse 'plan like \"x\"': unknown operator 'like' at column 6 {OPERATORS}" + SEE),
        ("n ~ 1", f"--where: cannot parse 'n ~ 1': unknown operator '~' at column 3 {OPERATORS}" + SEE),
        # trailing tokens after a complete condition
        ('plan == "pro" "x"', "--where: cannot parse 'plan == \"pro\" \"x\"': unexpected '\"x\"' at column 15 "
                              "after a complete condition (join conditions with and, or)" + SEE),
        ("a == 1 b == 2", "--where: cannot parse 'a == 1 b == 2': unexpected 'b' at column 8 "
                          "after a complete condition (join conditions with and, or)" + SEE),
        ('plan == "a"; DROP TABLE events; --',
         "--where: cannot parse 'plan == \"a\"; DROP TABLE events; --': unexpected ';' at column 12 "
         "after a complete condition (join conditions with and, or)" + SEE),
        ("a == 1)", "--where: cannot parse 'a == 1)': unexpected ')' at column 7 "
                    "after a complete condition (join conditions with and, or)" + SEE),
        # an expression that stops early
        ("plan ==", "--where: cannot parse 'plan ==': the expression ends at column 8, where a value was expected" + SEE),
        ("a == 1 and", "--where: cannot parse 'a == 1 and': the expression ends at column 11, where a value or a "
         "property was expected" + SEE),
        ("(a == 1", "--where: cannot parse '(a == 1': the expression ends at column 8, where ')' was expected" + SEE),
        ("plan is", "--where: cannot parse 'plan is': the expression ends at column 8, where 'set' was expected" + SEE),
        # something else where a part was expected
        ('"x" == 1', "--where: cannot parse '\"x\" == 1': unexpected '==' at column 5; expected 'in' (a value on "
         "the left: \"v\" in tags)" + SEE),
        ("plan == 'pro'", "--where: cannot parse \"plan == 'pro'\": a ' at column 9: write strings in double "
                          "quotes, as in plan == \"pro\"" + SEE),
        ("plan == @", "--where: cannot parse 'plan == @': unexpected '@' at column 9; expected a value" + SEE),
        ("properties == 1", "--where: cannot parse 'properties == 1': unexpected '==' at column 12; expected '['" + SEE),
        # bad escapes and control characters in a string
        (r'plan == "\x"', rf"--where: bad string at column 10: invalid \escape {ESCAPES}"),
        ('plan == "a\tb"', f"--where: bad string at column 11: invalid control character {ESCAPES}"),
        # the wrong kind of value for an operator
        ('n > "1"', "--where: '>' compares numbers; got \"1\""),
        ("n <= true", "--where: '<=' compares numbers; got true"),
        ('plan in "a"', "--where: 'in' needs a list, as in plan in [\"a\", \"b\"]"),
        ("plan contains 1", "--where: 'contains' takes a string"),
        # NUL, which PostgreSQL's text cannot hold: refused on every engine alike
        ('properties["\\u0000"] == 1',
         "--where: the string at column 12 holds a NUL character (\\u0000), which no property name or value can hold"),
        ('plan == "a\\u0000"',
         "--where: the string at column 9 holds a NUL character (\\u0000), which no property name or value can hold"),
        # nesting past the bound (parentheses around one condition add no level)
        ("not " * 101 + "a is set", "--where: nested too deeply (at most 100 levels of not, and, or and the "
                                    "parentheses around them)"),
        ("(a is set or " * 101 + "b is set" + ")" * 101, "--where: nested too deeply (at most 100 levels of not, "
                                                           "and, or and the parentheses around them)"),
    ],
)
def test_each_error_has_its_one_line_message(text: str, message: str) -> None:
    with pytest.raises(EtlError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_nesting_up_to_the_bound_parses() -> None:
    tree = parse("not " * 100 + "a is set")
    for _ in range(100):
        assert isinstance(tree, Logical) and tree.op == "not"
        tree = tree.parts[0]
    assert tree == Compare(Ref(None, "a"), "is set", None)
    assert parse("(" * 5000 + "a is set" + ")" * 5000) == Compare(Ref(None, "a"), "is set", None)


def test_the_option_names_the_flag() -> None:
    with pytest.raises(EtlError) as caught:
        parse("plan ==", "--where-group")
    assert str(caught.value) == "--where-group: cannot parse 'plan ==': the expression ends at column 8, where a value was expected" + SEE


# --- compiled SQL -------------------------------------------------------------------

COLUMNS = {None: "e.properties", "user": "up.properties", "group": "gp.properties"}


def compile_for(dialect: str, text: str, params: dict | None = None, prefix: str = "f") -> tuple[str, dict]:
    params = {} if params is None else params
    sql = SqlCompiler(dialect, params, prefix).compile(parse(text), lambda ref: COLUMNS[ref.scope])
    return sql, params


def duck_path(key: str) -> str:
    """DuckDB's JSON path to one key, '$."<key>"', built from the bound name with
    backslashes and quotes escaped (so a name never reaches the SQL text)."""
    return f"""('$."' || replace(replace({key}, '\\', '\\\\'), '"', '\\"') || '"')"""


def duck_member(column: str, key: str) -> str:
    """The member named by `key`; of duplicate names the last (the check for a second
    occurrence of the quoted name runs only where the name is present)."""
    plain = f"json_extract({column}, {duck_path(key)})"
    needle = f"CAST(to_json({key}) AS VARCHAR)"
    return (f"CASE WHEN {plain} IS NULL THEN NULL "
            f"WHEN strlen({column}) - strlen(replace({column}, {needle}, '')) > strlen({needle}) "
            f"THEN json_extract({column}, '$.*')[len(json_keys({column})) + 1 "
            f"- list_position(list_reverse(json_keys({column})), {key})] ELSE {plain} END")


def duck_text(column: str, key: str) -> str:
    return f"json_extract_string({duck_member(column, key)}, '$')"


def duck_number(column: str, key: str) -> str:
    member = duck_member(column, key)
    return f"(CASE WHEN json_type({member}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST({member} AS DOUBLE) END)"


def duck_within(item: str) -> str:
    """contains / `"v" in` on DuckDB over e.properties, name :f0, value :f1."""
    member = duck_member("e.properties", ":f0")
    texts = f"json_extract_string(CASE WHEN json_type({member}) = 'ARRAY' THEN {member} END, '$[*]')"
    return (f"(CASE WHEN (json_type({member}) = 'ARRAY') "
            f"THEN coalesce(len(list_filter({texts}, lambda element: {item})) > 0, false) "
            f"ELSE strpos({duck_text('e.properties', ':f0')}, :f1) > 0 END)")


def pg_within(item: str) -> str:
    """The same on PostgreSQL: jsonb_array_elements_text only where the member is an array."""
    return ("(CASE WHEN (jsonb_typeof(e.properties -> :f0) = 'array') "  # noqa: S608 - expected text
            "THEN (CASE WHEN jsonb_typeof(e.properties -> :f0) = 'array' THEN EXISTS (SELECT 1 FROM "
            f"jsonb_array_elements_text(e.properties -> :f0) AS listed(element) WHERE {item}) ELSE false END) "
            "ELSE strpos((e.properties ->> :f0), :f1) > 0 END)")


def pg_number(column: str, key: str) -> str:
    n = f"CAST({column} -> {key} AS numeric)"
    big = "179769313486231570" + "0" * 291
    return (f"(CASE WHEN jsonb_typeof({column} -> {key}) = 'number' THEN CASE "
            f"WHEN {n} > {big} THEN CAST('Infinity' AS float8) WHEN {n} < -{big} THEN CAST('-Infinity' AS float8) "
            f"WHEN abs({n}) * {2 ** 1075} <= 1 THEN CAST(0 AS float8) ELSE CAST({n} AS float8) END END)")


def test_the_duckdb_path_fragment_spelled_out() -> None:
    sql, params = compile_for("duckdb", 'plan == "pro"')
    path = "('$.\"' || replace(replace(:f0, '\\', '\\\\'), '\"', '\\\"') || '\"')"
    assert sql == (f"(json_extract_string(CASE WHEN json_extract(e.properties, {path}) IS NULL THEN NULL "
                   "WHEN strlen(e.properties) - strlen(replace(e.properties, CAST(to_json(:f0) AS VARCHAR), '')) "
                   "> strlen(CAST(to_json(:f0) AS VARCHAR)) THEN json_extract(e.properties, '$.*')"
                   "[len(json_keys(e.properties)) + 1 - list_position(list_reverse(json_keys(e.properties)), :f0)] "
                   f"ELSE json_extract(e.properties, {path}) END, '$') = :f1)")
    assert params == {"f0": "plan", "f1": "pro"}


@pytest.mark.parametrize(
    ("text", "duckdb", "postgresql", "params"),
    [
        ('plan == "pro"', f"({duck_text('e.properties', ':f0')} = :f1)", "((e.properties ->> :f0) = :f1)",
         {"f0": "plan", "f1": "pro"}),
        ('plan != "pro"', f"({duck_text('e.properties', ':f0')} <> :f1)", "((e.properties ->> :f0) <> :f1)",
         {"f0": "plan", "f1": "pro"}),
        # booleans compare as the text ->> gives: true, false
        ("flag == true", f"({duck_text('e.properties', ':f0')} = :f1)", "((e.properties ->> :f0) = :f1)",
         {"f0": "flag", "f1": "true"}),
        ("flag != false", f"({duck_text('e.properties', ':f0')} <> :f1)", "((e.properties ->> :f0) <> :f1)",
         {"f0": "flag", "f1": "false"}),
        # numbers compare numerically, bound as floats; a non-number property is NULL
        ("n == 3", f"({duck_number('e.properties', ':f0')} = :f1)", f"({pg_number('e.properties', ':f0')} = :f1)",
         {"f0": "n", "f1": 3.0}),
        ("n != 3", f"({duck_number('e.properties', ':f0')} <> :f1)", f"({pg_number('e.properties', ':f0')} <> :f1)",
         {"f0": "n", "f1": 3.0}),
        ("n > 2.5", f"({duck_number('e.properties', ':f0')} > :f1)", f"({pg_number('e.properties', ':f0')} > :f1)",
         {"f0": "n", "f1": 2.5}),
        ("n >= 1e3", f"({duck_number('e.properties', ':f0')} >= :f1)", f"({pg_number('e.properties', ':f0')} >= :f1)",
         {"f0": "n", "f1": 1000.0}),
        ("n < -1", f"({duck_number('e.properties', ':f0')} < :f1)", f"({pg_number('e.properties', ':f0')} < :f1)",
         {"f0": "n", "f1": -1.0}),
        ("n <= 0", f"({duck_number('e.properties', ':f0')} <= :f1)", f"({pg_number('e.properties', ':f0')} <= :f1)",
         {"f0": "n", "f1": 0.0}),
        # == null: present, with a JSON null
        ("plan == null",
         f"(({duck_member('e.properties', ':f0')} IS NOT NULL) AND ({duck_text('e.properties', ':f1')} IS NULL))",
         "(((e.properties -> :f0) IS NOT NULL) AND ((e.properties ->> :f1) IS NULL))",
         {"f0": "plan", "f1": "plan"}),
        ("plan != null",
         f"(NOT (({duck_member('e.properties', ':f0')} IS NOT NULL) "
         f"AND ({duck_text('e.properties', ':f1')} IS NULL)))",
         "(NOT (((e.properties -> :f0) IS NOT NULL) AND ((e.properties ->> :f1) IS NULL)))",
         {"f0": "plan", "f1": "plan"}),
        # in: each item bound as the text ->> gives
        ('plan in ["a", "b"]', f"({duck_text('e.properties', ':f0')} IN (:f1, :f2))",
         "((e.properties ->> :f0) IN (:f1, :f2))", {"f0": "plan", "f1": "a", "f2": "b"}),
        ("n in [1, 2.5, true]", f"({duck_text('e.properties', ':f0')} IN (:f1, :f2, :f3))",
         "((e.properties ->> :f0) IN (:f1, :f2, :f3))", {"f0": "n", "f1": "1", "f2": "2.5", "f3": "true"}),
        ("plan in []", "false", "false", {}),
        # contains and `"v" in`: a list item by item, any other value through its text
        ('plan contains "ro"', duck_within("strpos(element, :f1) > 0"), pg_within("strpos(listed.element, :f1) > 0"),
         {"f0": "plan", "f1": "ro"}),
        ('"ro" in plan', duck_within("element = :f1"), pg_within("listed.element = :f1"), {"f0": "plan", "f1": "ro"}),
        ("plan is set", f"({duck_member('e.properties', ':f0')} IS NOT NULL)",
         "((e.properties -> :f0) IS NOT NULL)", {"f0": "plan"}),
        ("plan is not set", f"(NOT ({duck_member('e.properties', ':f0')} IS NOT NULL))",
         "(NOT ((e.properties -> :f0) IS NOT NULL))", {"f0": "plan"}),
        # each reference reads the column its scope names; names and values stay parameters
        ('user.tier == "gold"', f"({duck_text('up.properties', ':f0')} = :f1)", "((up.properties ->> :f0) = :f1)",
         {"f0": "tier", "f1": "gold"}),
        ('group["plan"] == "x"', f"({duck_text('gp.properties', ':f0')} = :f1)", "((gp.properties ->> :f0) = :f1)",
         {"f0": "plan", "f1": "x"}),
        ('properties["a\'b; --"] == "\'; DROP TABLE events; --"',
         f"({duck_text('e.properties', ':f0')} = :f1)", "((e.properties ->> :f0) = :f1)",
         {"f0": "a'b; --", "f1": "'; DROP TABLE events; --"}),
    ],
)
def test_each_comparison_compiles_with_bound_parameters(text: str, duckdb: str, postgresql: str,
                                                       params: dict) -> None:
    assert compile_for("duckdb", text) == (duckdb, params)
    assert compile_for("postgresql", text) == (postgresql, params)


AB = {"f0": "a", "f1": "1", "f2": "b", "f3": "2"}


@pytest.mark.parametrize(
    ("text", "postgresql", "params"),
    [
        # and / or: each part NULL-safe, so a missing property is false, never unknown
        ('a == "1" and b == "2"', "(coalesce(((e.properties ->> :f0) = :f1), false) AND "
                                  "coalesce(((e.properties ->> :f2) = :f3), false))", AB),
        ('a == "1" or b == "2"', "(coalesce(((e.properties ->> :f0) = :f1), false) OR "
                                 "coalesce(((e.properties ->> :f2) = :f3), false))", AB),
        ('not a == "1"', "(NOT coalesce(((e.properties ->> :f0) = :f1), false))", {"f0": "a", "f1": "1"}),
        ('a == "1" or not b == "2"', "(coalesce(((e.properties ->> :f0) = :f1), false) OR "
                                     "coalesce((NOT coalesce(((e.properties ->> :f2) = :f3), false)), false))", AB),
        ('(a == "1" or b == "2") and c == "3"',
         "(coalesce((coalesce(((e.properties ->> :f0) = :f1), false) OR coalesce(((e.properties ->> :f2) = :f3), "
         "false)), false) AND coalesce(((e.properties ->> :f4) = :f5), false))", {**AB, "f4": "c", "f5": "3"}),
    ],
)
def test_logical_operators_compile_null_safe(text: str, postgresql: str, params: dict) -> None:
    assert compile_for("postgresql", text) == (postgresql, params)
    duck, duck_params = compile_for("duckdb", text)
    assert duck_params == params
    assert duck == postgresql.replace("(e.properties ->> :f0)", duck_text("e.properties", ":f0")).replace(
        "(e.properties ->> :f2)", duck_text("e.properties", ":f2")).replace(
        "(e.properties ->> :f4)", duck_text("e.properties", ":f4"))


def test_logical_operators_on_duckdb_spelled_out() -> None:
    assert compile_for("duckdb", 'not (a == "1" or b is set)') == (
        f"(NOT coalesce((coalesce(({duck_text('e.properties', ':f0')} = :f1), false) OR "
        f"coalesce(({duck_member('e.properties', ':f2')} IS NOT NULL), false)), false))",
        {"f0": "a", "f1": "1", "f2": "b"},
    )


def test_parameter_names_continue_after_the_callers_and_take_the_prefix() -> None:
    params = {"event": "A", "d1": "2026-05-01"}
    sql, params = compile_for("postgresql", 'plan == "pro"', params, prefix="w")
    assert sql == "((e.properties ->> :w2) = :w3)"
    assert params == {"event": "A", "d1": "2026-05-01", "w2": "plan", "w3": "pro"}


def test_wrap_surrounds_each_comparison_not_the_whole() -> None:
    params: dict = {}
    compiler = SqlCompiler("postgresql", params)
    wrapped = compiler.compile(parse('k.plan == "pro" and not k.seats is set'), lambda _ref: "gp.properties",
                               wrap=lambda ref, condition: f"EXISTS[{ref.scope}: {condition}]")
    assert wrapped == ("(coalesce(EXISTS[k: ((gp.properties ->> :f0) = :f1)], false) AND "
                       "coalesce((NOT coalesce(EXISTS[k: ((gp.properties -> :f2) IS NOT NULL)], false)), false))")
    assert params == {"f0": "plan", "f1": "pro", "f2": "seats"}


def test_a_refused_reference_raises_from_column_for() -> None:
    def column_for(ref: Ref) -> str:
        raise EtlError(f"{ref.scope}.{ref.name}: not here")

    with pytest.raises(EtlError, match=r"^user\.tier: not here$"):
        SqlCompiler("duckdb", {}).compile(parse('plan == "a" or user.tier == "g"'),
                                          lambda ref: "e.properties" if ref.scope is None else column_for(ref))


@pytest.mark.parametrize("text", ['plan contains "ro"', '"ro" in plan'])
def test_contains_on_spark_is_instr(text: str) -> None:
    """Spark SQL has no strpos (a report with `contains` failed there): the dialect's
    `contains` fragment is instr, each engine's own (tests/spark/test_spark_reports.py
    compares the answers with DuckDB's)."""
    spark, params = compile_for("spark", text)
    assert "strpos(" not in spark and "instr(" in spark
    assert params == {"f0": "plan", "f1": "ro"}
    assert "strpos(" in compile_for("duckdb", text)[0] and "strpos(" in compile_for("postgresql", text)[0]
