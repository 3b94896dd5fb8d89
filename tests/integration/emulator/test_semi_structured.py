"""12: VARIANT functions and casts answer as Snowflake's: AS_* functions, casts of a VARIANT to CHAR and BINARY, the
JSON null of PARSE_JSON."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from snowflake.connector.errors import ProgrammingError

pytestmark = pytest.mark.integration


def _flatten(json_text: str) -> str:
    return f"TABLE(FLATTEN(INPUT => PARSE_JSON('{json_text}')))"


def test_as_functions_answer_the_value_of_their_type_else_null(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute(
        "SELECT AS_BOOLEAN(PARSE_JSON('true')), AS_BOOLEAN(PARSE_JSON('1')), AS_DOUBLE(PARSE_JSON('2.5')),"
        " AS_DOUBLE(PARSE_JSON('\"x\"')), AS_INTEGER(PARSE_JSON('7')), AS_INTEGER(PARSE_JSON('7.5')),"
        " AS_VARCHAR(PARSE_JSON('\"s\"')), AS_VARCHAR(PARSE_JSON('1')), AS_NUMBER(PARSE_JSON('12.5'), 10, 1),"
        " AS_ARRAY(PARSE_JSON('[1]')), AS_OBJECT(PARSE_JSON('[1]')), AS_CHAR(NULL)"
    ).fetchone()
    assert row == (True, None, 2.5, None, 7, None, "s", None, Decimal("12.5"), "[\n  1\n]", None, None)


def test_as_double_of_a_number_is_a_float_per_row(connect: Any) -> None:
    cur = connect().cursor()
    sql = "SELECT SEQ4() AS I, AS_DOUBLE(I * 3) / 2 AS D FROM TABLE(GENERATOR(ROWCOUNT => 4)) ORDER BY I"
    assert cur.execute(sql).fetchall() == [(0, 0.0), (1, 1.5), (2, 3.0), (3, 4.5)]


@pytest.mark.parametrize("sf_type", ["CHAR", "VARCHAR", "STRING", "TEXT", "CHARACTER(3)"])
def test_a_variant_string_cast_to_text_is_unquoted(connect: Any, sf_type: str) -> None:
    cur = connect().cursor()
    sql = f"SELECT VALUE::{sf_type} AS C FROM " + _flatten('[null, "a", "b"]')
    assert cur.execute(sql).fetchall() == [(None,), ("a",), ("b",)]


def test_text_and_variant_strings_cast_to_binary_are_read_as_hex(connect: Any) -> None:
    cur = connect().cursor()
    sql = "SELECT VALUE::BINARY AS B FROM " + _flatten('[null, "ab", "fa4200"]')
    assert cur.execute(sql).fetchall() == [(None,), (b"\xab",), (b"\xfa\x42\x00",)]
    assert cur.execute("SELECT 'ab'::BINARY, PARSE_JSON('{\"k\": \"0f\"}'):k::BINARY").fetchone() == (b"\xab", b"\x0f")
    cur.execute("CREATE TEMPORARY TABLE TYPED (V VARCHAR, B BINARY, J VARIANT)")
    cur.execute("INSERT INTO TYPED SELECT 'ab', X'AB', PARSE_JSON('\"0f\"')")
    row = cur.execute("SELECT V::BINARY, B::BINARY, J::BINARY, UPPER(V)::BINARY, TO_BINARY(V) FROM TYPED").fetchone()
    assert row == (b"\xab", b"\xab", b"\x0f", b"\xab", b"\xab")


def test_binary_cast_to_text_is_upper_case_hex(connect: Any) -> None:
    """BINARY_OUTPUT_FORMAT's default, HEX: the bytes 0xAB 0x01 read as the text 'AB01'."""
    cur = connect().cursor()
    cur.execute("CREATE TEMPORARY TABLE BYTES (B BINARY)")
    cur.execute("INSERT INTO BYTES SELECT TO_BINARY('ab01') UNION ALL SELECT NULL")
    rows = cur.execute("SELECT B::VARCHAR, TO_VARCHAR(B), TO_CHAR(B), CAST(B AS STRING) FROM BYTES ORDER BY 1")
    assert rows.fetchall() == [("AB01",) * 4, (None,) * 4]
    row = cur.execute("SELECT TO_BINARY('ab01')::VARCHAR, TO_VARCHAR(X'0F'), TO_VARCHAR(TO_BINARY('SNOW', 'UTF-8'))")
    assert row.fetchone() == ("AB01", "0F", "534E4F57")
    written = "SELECT TO_VARCHAR(B, 'HEX'), TO_CHAR(B, 'BASE64'), TO_VARCHAR(TO_BINARY('534E4F57'), 'UTF-8') FROM BYTES"
    assert cur.execute(written + " WHERE B IS NOT NULL").fetchall() == [("AB01", "qwE=", "SNOW")]


def test_hex_text_of_an_odd_length_is_no_binary(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute("SELECT TRY_TO_BINARY('ab01'), TRY_TO_BINARY('abc'), TRY_TO_BINARY('zz'), TRY_TO_BINARY(NULL)")
    assert row.fetchone() == (b"\xab\x01", None, None, None)
    with pytest.raises(ProgrammingError, match="not a legal hex-encoded value: 'abc'"):
        cur.execute("SELECT TO_BINARY('abc')")


def test_parse_json_of_null_in_any_case_is_the_json_null(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute(
        "SELECT PARSE_JSON('NULL') IS NULL, PARSE_JSON(NULL) IS NULL,"
        " OBJECT_CONSTRUCT('one', PARSE_JSON('NULL'), 'two', NULL, 'three', 'null')"
    ).fetchone()
    assert row is not None
    assert row[:2] == (False, True)
    assert row[2] == '{\n  "one": null,\n  "three": "null"\n}'


VARIANTS = 'SELECT PARSE_JSON(\'{"a": [1, {"b": 2.5}], "c": {}}\'), PARSE_JSON(\'[1.7976931348623157e308, 0.1]\')'
INDENTED = '{\n  "a": [\n    1,\n    {\n      "b": 2.5\n    }\n  ],\n  "c": {}\n}'
FLOATS = "[\n  1.797693134862316e+308,\n  0.1\n]"


@pytest.mark.parametrize("result_format", ["ARROW_FORCE", "JSON"])
def test_variant_text_is_indented_with_floats_in_16_digits(connect: Any, result_format: str) -> None:
    cur = connect(session_parameters={"PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": result_format}).cursor()
    assert cur.execute(VARIANTS).fetchone() == (INDENTED, FLOATS)
    assert json.loads(FLOATS)[0] == float("inf")  # as Snowflake's text of the largest double reads in Python


def test_json_indent_sets_the_indentation(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("ALTER SESSION SET JSON_INDENT = 0")
    assert cur.execute(VARIANTS).fetchone() == ('{"a":[1,{"b":2.5}],"c":{}}', "[1.797693134862316e+308,0.1]")
    cur.execute("ALTER SESSION SET JSON_INDENT = 4")
    assert cur.execute("SELECT ARRAY_CONSTRUCT(1, 2)").fetchone() == ("[\n    1,\n    2\n]",)


def test_a_json_null_flattened_stays_a_variant_null(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("CREATE TEMPORARY TABLE KEPT (V VARIANT)")
    cur.execute("INSERT INTO KEPT SELECT VALUE FROM " + _flatten('[null, 1.1, {"k": null}]'))
    assert cur.execute("SELECT V, V IS NULL FROM KEPT").fetchall() == [
        ("null", False),
        ("1.1", False),
        ('{\n  "k": null\n}', False),
    ]
    rows = cur.execute("SELECT KEY, VALUE, VALUE::VARCHAR FROM " + _flatten('{"a": null, "b": "x"}')).fetchall()
    assert sorted(rows) == [("a", "null", None), ("b", '"x"', "x")]


def test_any_variant_cast_to_text_is_its_string_unquoted(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("CREATE TEMPORARY TABLE DOCS (J VARIANT, V VARCHAR, I INT)")
    cur.execute("INSERT INTO DOCS SELECT PARSE_JSON('\"a\"'), 'x', 5")
    cur.execute("INSERT INTO DOCS SELECT PARSE_JSON('{\"k\": 1}'), 'y', 6")
    rows = cur.execute("SELECT J::VARCHAR, J::CHAR(10), TO_VARCHAR(J), V::VARCHAR, I::VARCHAR FROM DOCS ORDER BY I")
    assert rows.fetchall() == [("a", "a", "a", "x", "5"), ('{"k":1}', '{"k":1}', '{"k":1}', "y", "6")]
    row = cur.execute(
        "SELECT PARSE_JSON('\"a\"')::VARCHAR, TO_VARIANT('b')::STRING, PARSE_JSON('null')::VARCHAR,"
        " ARRAY_CONSTRUCT('c')::VARCHAR"
    ).fetchone()
    assert row == ("a", "b", None, '["c"]')
