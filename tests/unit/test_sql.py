"""_sql: the scanner leaves SQL as written; binds, batch rows, statement splitting, QUERY_TAG."""

from __future__ import annotations

import datetime
import decimal
import doctest
import importlib
import json
import random
import re
from typing import Any

import pytest

from flyteplugins.snowflake._sql import (
    QUERY_TAG_LIMIT,
    USER_TAG_LIMIT,
    BoundStatement,
    batch_statement,
    build_query_tag,
    check_template,
    compile_batch,
    compile_query,
    split_statements,
    statement_count,
    user_query_tag,
)
from flyteplugins.snowflake.errors import SnowflakeConfigError, SnowflakeInputError

# --- compile_query -------------------------------------------------------------------------------------------


def test_placeholders_become_numeric_binds_in_order_of_first_use() -> None:
    bound = compile_query("SELECT %(b)s, %(a)s, %(b)s", {"a": 1, "b": "x"})
    assert bound == BoundStatement("SELECT :1, :2, :1", ("x", 1))


def test_comment_does_not_swallow_the_rest_of_a_delete() -> None:
    template = "DELETE FROM events -- only old rows!\nWHERE day < %(cutoff)s\n  AND kind = 'tmp'"
    bound = compile_query(template, {"cutoff": datetime.date(2024, 1, 1)})
    assert bound.sql == "DELETE FROM events -- only old rows!\nWHERE day < :1\n  AND kind = 'tmp'"
    assert bound.params == (datetime.date(2024, 1, 1),)


@pytest.mark.parametrize(
    "literal",
    [
        "'%(x)s'",
        "'it''s %(x)s'",
        "'a\\'%(x)s'",
        "'100%%'",
        '"col %(x)s"',
        '"a""%(x)s"',
        "$$ %(x)s; %% $$",
        "-- %(x)s %%\n",
        "// %(x)s\n",
        "/* %(x)s\n %% */",
    ],
)
def test_placeholders_in_literals_and_comments_are_not_inputs(literal: str) -> None:
    template = f"SELECT %(x)s, {literal} FROM t WHERE y = %(x)s"
    bound = compile_query(template, {"x": 5})
    assert bound.sql == f"SELECT :1, {literal.replace('%%', '%')} FROM t WHERE y = :1"
    assert bound.params == (5,)


def test_percent_signs() -> None:
    template = "SELECT a % b, 10 %% 3 FROM t WHERE name LIKE 'A%' AND code LIKE %(p)s AND c = '100%%'"
    bound = compile_query(template, {"p": "B%"})
    assert bound.sql == "SELECT a % b, 10 % 3 FROM t WHERE name LIKE 'A%' AND code LIKE :1 AND c = '100%'"
    assert bound.params == ("B%",)


@pytest.mark.parametrize("inputs", [{}, {"unused": 1}], ids=["no inputs", "unused input"])
def test_percent_signs_read_the_same_without_inputs(inputs: dict[str, Any]) -> None:
    template = "SELECT 10 %% 3, a % b, 'A%', '100%%', '%%%',\n\t'x'  -- keep %(this)s\n"
    expected = "SELECT 10 % 3, a % b, 'A%', '100%', '%%',\n\t'x'  -- keep %(this)s\n"
    assert compile_query(template, inputs) == BoundStatement(expected, ())
    with_input = compile_query(template + "AND %(v)s", {"v": 1})
    assert with_input.sql == expected + "AND :1"


def test_doubled_percent_before_a_parenthesis_is_text() -> None:
    assert compile_query("SELECT '%%(x)s', 1 %%(2)", {}).sql == "SELECT '%(x)s', 1 %(2)"


def test_dollar_in_identifiers_is_not_a_string() -> None:
    bound = compile_query("SELECT SYSTEM$CANCEL_QUERY(%(q)s), $1 FROM @stage", {"q": "01ab"})
    assert bound.sql == "SELECT SYSTEM$CANCEL_QUERY(:1), $1 FROM @stage"


def test_unterminated_literal_runs_to_the_end() -> None:
    assert compile_query("SELECT %(a)s, 'oops %(a)s", {"a": 1}).sql == "SELECT :1, 'oops %(a)s"


def test_lists_expand_for_in() -> None:
    bound = compile_query(
        "SELECT * FROM t WHERE id IN (%(ids)s) AND k = %(k)s OR id IN (%(ids)s)", {"ids": [3, 4, 5], "k": "z"}
    )
    assert bound.sql == "SELECT * FROM t WHERE id IN (:1, :2, :3) AND k = :4 OR id IN (:1, :2, :3)"
    assert bound.params == (3, 4, 5, "z")
    assert compile_query("x IN (%(t)s)", {"t": ("a",)}).params == ("a",)


def test_empty_list_binds_one_null() -> None:
    assert compile_query("DELETE FROM t WHERE id NOT IN (%(keep)s)", {"keep": []}) == BoundStatement(
        "DELETE FROM t WHERE id NOT IN (:1)", (None,)
    )


def test_every_allowed_type_binds() -> None:
    values: dict[str, Any] = {
        "i": 1,
        "f": 1.5,
        "d": decimal.Decimal("1.10"),
        "s": "s",
        "b": True,
        "n": None,
        "day": datetime.date(2024, 2, 29),
        "t": datetime.time(12, 30),
        "ts": datetime.datetime(2024, 2, 29, 12, 30, tzinfo=datetime.timezone.utc),
        "raw": b"\x00\x01",
    }
    template = ", ".join(f"%({name})s" for name in values)
    expected = {**values, "ts": ("TIMESTAMP_TZ", values["ts"])}
    assert compile_query(template, values).params == tuple(expected.values())


def test_aware_datetime_binds_as_timestamp_tz_with_its_offset() -> None:
    plus5 = datetime.timezone(datetime.timedelta(hours=5))
    noon = datetime.datetime(2024, 1, 1, 12, 0, tzinfo=plus5)
    ((kind, value),) = compile_query("SELECT %(ts)s", {"ts": noon}).params
    assert kind == "TIMESTAMP_TZ"
    assert value == noon and value.utcoffset() == datetime.timedelta(hours=5) and value.hour == 12


def test_zone_aware_datetime_keeps_the_offset_it_has_then() -> None:
    from zoneinfo import ZoneInfo

    summer = datetime.datetime(2024, 7, 1, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    ((kind, value),) = compile_query("SELECT %(ts)s", {"ts": summer}).params
    assert (kind, value, value.utcoffset()) == ("TIMESTAMP_TZ", summer, datetime.timedelta(hours=-4))
    assert value.hour == 9


def test_naive_datetime_stays_ntz() -> None:
    naive = datetime.datetime(2024, 1, 1, 12, 0)
    assert compile_query("SELECT %(ts)s", {"ts": naive}).params == (naive,)


def test_lists_of_datetimes_bind_each_by_its_kind() -> None:
    aware = datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.timezone.utc)
    naive = datetime.datetime(2024, 1, 1, 12)
    bound = compile_query("x IN (%(ts)s)", {"ts": [aware, naive]})
    assert bound.params == (("TIMESTAMP_TZ", aware), naive)
    _, rows = compile_batch("INSERT INTO t VALUES (%(ts)s)", {"ts": [aware, aware]})
    assert rows == [(("TIMESTAMP_TZ", aware),), (("TIMESTAMP_TZ", aware),)]


@pytest.mark.parametrize("in_list", [False, True])
def test_aware_time_is_refused_naming_the_input(in_list: bool) -> None:
    at = datetime.time(12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    with pytest.raises(SnowflakeInputError, match=r"input 'opens' is a time with a time zone \(12:00:00\+05:00\)"):
        compile_query("SELECT %(opens)s", {"opens": [at] if in_list else at})
    with pytest.raises(SnowflakeInputError, match="input 'opens' is a time with a time zone"):
        compile_batch("INSERT INTO t VALUES (%(opens)s)", {"opens": [at] if in_list else at})


def test_unused_inputs_are_ignored() -> None:
    assert compile_query("SELECT %(a)s", {"a": 1, "unused": object()}).params == (1,)


def test_missing_input_is_named() -> None:
    with pytest.raises(
        SnowflakeInputError, match=r"uses %\(day\)s but no input named 'day' was given \(inputs: a, b\)"
    ):
        compile_query("SELECT %(day)s", {"a": 1, "b": 2})


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ({"k": 1}, "input 'v' has type dict"),
        ({1, 2}, "input 'v' has type set"),
        (object(), "input 'v' has type object"),
        ([1, [2]], "an element of input 'v' has type list"),
        ([{"a": 1}], "an element of input 'v' has type dict"),
    ],
)
def test_unsupported_types_are_named(value: Any, pattern: str) -> None:
    with pytest.raises(SnowflakeInputError, match=pattern) as info:
        compile_query("SELECT %(v)s", {"v": value})
    assert "allowed: int, float" in str(info.value)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("template", ["SELECT %(x)d", "SELECT %(x", "SELECT %(x y)s"])
def test_malformed_placeholders(template: str) -> None:
    with pytest.raises(SnowflakeInputError, match="malformed placeholder"):
        compile_query(template, {"x": 1})


# Pieces for the property test: literal/comment pieces must come out byte for byte, but for `%%` -> `%`.
_LITERALS = [
    "'%(a)s'",
    "'x''%(b)s''y'",
    "'tab\\t%%\\''",
    '"Weird %(a)s ""Col"""',
    "$$ body %(a)s ; %% $$",
    "-- note %(b)s %%\n",
    "// note %(a)s\n",
    "/* multi\n line %(b)s %% */",
    "''",
]
_CODE = ["SELECT ", " , ", "\n", "\t", " FROM t ", " WHERE ", " = ", " LIKE ", " % ", "(", ")", "  ", "x$y ", "1"]


@pytest.mark.parametrize("seed", range(300))
def test_random_templates_keep_everything_but_placeholders_and_doubled_percents(seed: int) -> None:
    rng = random.Random(seed)
    template, expected, params = "", "", []
    index: dict[str, int] = {}
    inputs = {"a": 1, "b": "two"}
    for _ in range(rng.randint(1, 25)):
        kind = rng.random()
        if kind < 0.35:
            # spaces around each literal: adjacent quoted pieces would be one literal in SQL too, and `x$$` is
            # part of an identifier, not a string
            piece = " " + rng.choice(_LITERALS) + " "
            template, expected = template + piece, expected + piece.replace("%%", "%")
        elif kind < 0.6:
            name = rng.choice("ab")
            if name not in index:
                index[name] = len(index) + 1
                params.append(inputs[name])
            template, expected = template + f"%({name})s", expected + f":{index[name]}"
        elif kind < 0.65:
            template, expected = template + "%%", expected + "%"
        else:
            piece = rng.choice(_CODE)
            template, expected = template + piece, expected + piece
    bound = compile_query(template, inputs)
    assert bound.sql == expected
    assert bound.params == tuple(params)


# --- compile_batch -------------------------------------------------------------------------------------------


def test_batch_lists_become_rows_and_scalars_repeat() -> None:
    sql, rows = compile_batch(
        "INSERT INTO t (id, name, src) -- batch\nVALUES (%(id)s, %(name)s, %(src)s)",
        {"id": [1, 2, 3], "name": ("a", "b", "c"), "src": "import"},
    )
    assert sql == "INSERT INTO t (id, name, src) -- batch\nVALUES (:1, :2, :3)"
    assert rows == [(1, "a", "import"), (2, "b", "import"), (3, "c", "import")]


def test_batch_string_is_never_split_into_characters() -> None:
    assert compile_batch("INSERT INTO t VALUES (%(s)s)", {"s": "abc"})[1] == [("abc",)]


def test_batch_repeated_placeholder_binds_once() -> None:
    sql, rows = compile_batch("INSERT INTO t VALUES (%(a)s, %(a)s, %(b)s)", {"a": [1, 2], "b": [3, 4]})
    assert sql == "INSERT INTO t VALUES (:1, :1, :2)"
    assert rows == [(1, 3), (2, 4)]


def test_batch_mismatched_lengths_are_named() -> None:
    with pytest.raises(SnowflakeInputError, match=r"same length, got a \(3\), b \(2\)"):
        compile_batch("INSERT INTO t VALUES (%(a)s, %(b)s)", {"a": [1, 2, 3], "b": [1, 2]})


def test_batch_empty_lists_are_an_error() -> None:
    with pytest.raises(SnowflakeInputError, match="batch inputs a, b are empty"):
        compile_batch("INSERT INTO t VALUES (%(a)s, %(b)s)", {"a": [], "b": []})


def test_batch_of_scalars_is_one_row() -> None:
    assert compile_batch("INSERT INTO t VALUES (%(a)s)", {"a": 1}) == ("INSERT INTO t VALUES (:1)", [(1,)])


def test_batch_errors_name_the_input() -> None:
    with pytest.raises(SnowflakeInputError, match="no input named 'b'"):
        compile_batch("INSERT INTO t VALUES (%(a)s, %(b)s)", {"a": [1]})
    with pytest.raises(SnowflakeInputError, match="an element of input 'a' has type dict"):
        compile_batch("INSERT INTO t VALUES (%(a)s)", {"a": [1, {"x": 2}]})


def test_batch_rows_are_what_executemany_takes() -> None:
    sql, rows = compile_batch("INSERT INTO t VALUES (%(a)s, %(b)s)", {"a": [1, 2], "b": ["x", "y"]})
    assert all(isinstance(row, tuple) and len(row) == sql.count(":") for row in rows)


def test_batch_statement_drops_what_comes_before_the_insert() -> None:
    template = "\n  -- nightly load\n/* rows from the API */\n  insert\n into t VALUES (%(a)s);\n-- done\n"
    assert batch_statement(template) == "insert\n into t VALUES (%(a)s)"
    assert compile_batch(template, {"a": [1, 2]}) == ("insert\n into t VALUES (:1)", [(1,), (2,)])


@pytest.mark.parametrize(
    ("template", "what"),
    [
        ("UPDATE t SET v = %(v)s WHERE id = %(id)s", "starts with UPDATE, not INSERT INTO"),
        ("-- fix\nDELETE FROM t WHERE id = %(id)s", "starts with DELETE, not"),
        ("MERGE INTO t USING (SELECT %(id)s AS id) s ON t.id = s.id WHEN MATCHED THEN DELETE", "starts with MERGE"),
        ("INSERT OVERWRITE INTO t VALUES (%(id)s)", "starts with INSERT OVERWRITE, not"),
        ("INSERT ALL INTO t VALUES (%(id)s) SELECT 1", "starts with INSERT ALL, not"),
        ("INSERT /* x */ INTO t VALUES (%(id)s)", "has something between INSERT and INTO"),
        ("DELETE FROM t WHERE id = %(id)s; INSERT INTO t VALUES (%(id)s)", "has 2 statements"),
        ("INSERT INTO t VALUES (%(id)s); INSERT INTO u VALUES (%(id)s)", "has 2 statements"),
        ("WITH s AS (SELECT 1) INSERT INTO t SELECT * FROM s", "starts with WITH, not"),
    ],
)
def test_batch_refuses_what_the_driver_would_run_row_by_row(template: str, what: str) -> None:
    for refuse in (batch_statement, lambda t: compile_batch(t, {"id": [1, 2], "v": [3, 4]})):
        with pytest.raises(SnowflakeConfigError, match=re.escape(what)) as info:
            refuse(template)
        message = str(info.value)
        assert "one atomic query" in message and "staging table" in message and "MERGE" in message


@pytest.mark.parametrize("template", ["", "   \n", "-- nothing here\n", "/* a */ ; // b\n;"])
def test_template_without_a_statement_is_refused(template: str) -> None:
    with pytest.raises(SnowflakeConfigError, match=r"query_template is (empty|only comments): there is no statement"):
        check_template(template)


def test_template_checks() -> None:
    check_template("SELECT '%(' -- %(\n")  # inside literals and comments: text
    with pytest.raises(SnowflakeConfigError, match="query_template has a malformed placeholder near"):
        check_template("SELECT %(x y)s")
    with pytest.raises(SnowflakeConfigError, match="query_template must be a string of SQL, got bytes"):
        check_template(b"SELECT 1")


# --- statements ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT 1;", ["SELECT 1"]),
        ("SELECT 1; SELECT 2;\n", ["SELECT 1", "SELECT 2"]),
        ("SELECT ';' ; SELECT \"a;b\"", ["SELECT ';'", 'SELECT "a;b"']),
        ("SELECT 1 -- a; comment\n; SELECT 2", ["SELECT 1 -- a; comment", "SELECT 2"]),
        ("/* x; y */ SELECT 1;;  ;\n", ["/* x; y */ SELECT 1"]),
        ("SELECT 1; -- trailing comment only", ["SELECT 1"]),
        ("SELECT $$a;b$$; SELECT 'it''s;'", ["SELECT $$a;b$$", "SELECT 'it''s;'"]),
        ("SELECT\n  a,\n  b  -- keep\nFROM t;\nSELECT 2", ["SELECT\n  a,\n  b  -- keep\nFROM t", "SELECT 2"]),
        ("", []),
        ("  ;  ; -- nothing\n", []),
        # transactions are ordinary statements
        ("BEGIN; INSERT INTO t VALUES (1); COMMIT;", ["BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]),
        ("BEGIN TRANSACTION; DELETE FROM t; COMMIT", ["BEGIN TRANSACTION", "DELETE FROM t", "COMMIT"]),
        # Snowflake Scripting blocks are one statement each
        (
            "BEGIN\n  CREATE TABLE x (a INT);\n  INSERT INTO x VALUES (1);\nEND;\nSELECT * FROM x;",
            ["BEGIN\n  CREATE TABLE x (a INT);\n  INSERT INTO x VALUES (1);\nEND", "SELECT * FROM x"],
        ),
        (
            "DECLARE n INT DEFAULT 0; BEGIN IF (n = 0) THEN n := 1; END IF; RETURN n; END; SELECT 1",
            ["DECLARE n INT DEFAULT 0; BEGIN IF (n = 0) THEN n := 1; END IF; RETURN n; END", "SELECT 1"],
        ),
        (
            "BEGIN LET x := CASE WHEN 1 = 1 THEN 'a' ELSE 'b' END; BEGIN SELECT 1; END; RETURN x; END; SELECT 2",
            ["BEGIN LET x := CASE WHEN 1 = 1 THEN 'a' ELSE 'b' END; BEGIN SELECT 1; END; RETURN x; END", "SELECT 2"],
        ),
        (
            "CREATE PROCEDURE p() RETURNS INT LANGUAGE SQL AS BEGIN RETURN 1; END; CALL p();",
            ["CREATE PROCEDURE p() RETURNS INT LANGUAGE SQL AS BEGIN RETURN 1; END", "CALL p()"],
        ),
        # a column called "end" or "begin" outside a block changes nothing
        ("SELECT begin, end FROM t; SELECT 2", ["SELECT begin, end FROM t", "SELECT 2"]),
        (
            "CREATE VIEW v AS SELECT x AS begin FROM t; SELECT 2",
            ["CREATE VIEW v AS SELECT x AS begin FROM t", "SELECT 2"],
        ),
    ],
)
def test_split_statements(sql: str, statements: list[str]) -> None:
    assert split_statements(sql) == statements
    assert statement_count(sql) == len(statements)


# --- QUERY_TAG -----------------------------------------------------------------------------------------------

FLYTE = {"project": "flytesnacks", "domain": "development", "run": "r8x", "action": "a0", "attempt": "0"}


def test_tag_with_flyte_context_only() -> None:
    assert json.loads(build_query_tag(None, FLYTE)) == FLYTE


@pytest.mark.parametrize(
    ("user", "extra"),
    [
        ({"team": "growth", "cost_center": 42}, {"team": "growth", "cost_center": 42}),
        ('{"team": "growth"}', {"team": "growth"}),
        ("nightly load", {"user_tag": "nightly load"}),
        ("{not json", {"user_tag": "{not json"}),
        ("", {}),
    ],
)
def test_user_tag_merges(user: Any, extra: dict[str, Any]) -> None:
    assert json.loads(build_query_tag(user, FLYTE)) == {**FLYTE, **extra}


def test_user_keys_win_and_empty_flyte_values_are_dropped() -> None:
    tag = json.loads(build_query_tag({"project": "mine"}, {"project": "p", "run": "", "task": "t"}))
    assert tag == {"project": "mine", "task": "t"}


@pytest.mark.parametrize(
    "user",
    [
        {"note": "x" * 5000},
        {"note": '"' * 3000},
        {"note": "é" * 2500},
        {f"k{i}": "v" * 30 for i in range(200)},
        {"nested": {"deep": ["y" * 100] * 50}},
    ],
    ids=["long value", "escaped quotes", "non-ascii", "many keys", "nested"],
)
def test_long_tags_are_cut_to_valid_json(user: dict[str, Any]) -> None:
    text = build_query_tag(user, FLYTE)
    assert len(text) <= QUERY_TAG_LIMIT
    tag = json.loads(text)
    assert tag["run"] == "r8x"  # the short Flyte context survives


def test_a_tag_of_thousands_of_entries_is_cut_to_valid_json() -> None:
    user = {f"key_{i}": f"value-{i}" for i in range(20_000)}
    text = build_query_tag(user, FLYTE)
    assert len(text) <= QUERY_TAG_LIMIT
    tag = json.loads(text)
    assert tag["run"] == "r8x"
    assert all(user[k] == v or v.endswith("…") for k, v in tag.items() if k in user)


@pytest.mark.parametrize(
    ("session", "task", "merged"),
    [
        ("team-x", None, {"user_tag": "team-x"}),
        ('{"team": "x", "cost": 7}', {"job": "nightly"}, {"team": "x", "cost": 7, "job": "nightly"}),
        ("team-x", {"job": "nightly"}, {"user_tag": "team-x", "job": "nightly"}),
        ('{"team": "x"}', '{"team": "x"}', {"team": "x"}),
        (None, "plain", {"user_tag": "plain"}),
        ("", None, {}),
    ],
)
def test_session_tag_and_query_tag_merge(session: Any, task: Any, merged: dict[str, Any]) -> None:
    assert user_query_tag(session, task) == merged


def test_a_key_set_twice_is_refused() -> None:
    with pytest.raises(SnowflakeConfigError, match="query tag key 'user_tag' is set twice, to \"a\" by the session"):
        user_query_tag("a", "b")
    with pytest.raises(SnowflakeConfigError, match="query tag key 'team' is set twice"):
        user_query_tag('{"team": "x"}', {"team": "y"})


def test_a_user_tag_above_the_bound_is_refused() -> None:
    assert user_query_tag(None, {"k": "v" * (USER_TAG_LIMIT - 8)})  # exactly at the bound
    with pytest.raises(SnowflakeConfigError, match=f"is [0-9]+ characters as JSON; at most {USER_TAG_LIMIT}"):
        user_query_tag(None, {f"key_{i}": "value" for i in range(4000)})


def test_long_value_is_shortened_not_dropped() -> None:
    tag = json.loads(build_query_tag({"note": "x" * 5000}, FLYTE))
    assert tag["note"].endswith("…") and len(tag["note"]) > 1000


@pytest.mark.parametrize(
    "module", ["_sql", "_status", "_links", "config", "errors"], ids=lambda m: f"flyteplugins.snowflake.{m}"
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"flyteplugins.snowflake.{module}"))
    assert result.failed == 0 and result.attempted > 0
