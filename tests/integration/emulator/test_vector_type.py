"""VECTOR(INT, n) and VECTOR(FLOAT, n) through the real driver: columns, casts of arrays, the rowtype and Arrow
layout the driver decodes, the JSON result format, comparisons, the vector functions, and loud refusals of a
wrong dimension, a NULL or non-numeric element and an invalid VECTOR type."""

from __future__ import annotations

from typing import Any

import pytest
from snowflake.connector.constants import FIELD_ID_TO_NAME
from snowflake.connector.errors import IntegrityError, ProgrammingError

pytestmark = pytest.mark.integration


def _vector_table(cur: Any) -> None:
    cur.execute("CREATE TEMPORARY TABLE VT (ID INT, IV VECTOR(INT, 3), FV VECTOR(FLOAT, 2))")
    cur.execute("INSERT INTO VT SELECT 1, [1, -2, 3]::VECTOR(INT, 3), [4.5, 0.25]::VECTOR(FLOAT, 2)")
    cur.execute("INSERT INTO VT SELECT 2, [40, 1234567, 1]::VECTOR(INT, 3), [1.5, 2]::VECTOR(FLOAT, 2)")
    cur.execute("INSERT INTO VT SELECT 3, NULL, NULL")


def test_vector_columns_keep_their_values_and_read_as_lists(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    rows = cur.execute("SELECT IV, FV FROM VT ORDER BY ID").fetchall()
    assert rows == [([1, -2, 3], [4.5, 0.25]), ([40, 1234567, 1], [1.5, 2.0]), (None, None)]


def test_the_description_says_vector_with_its_dimension_and_element_type(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    cur.execute("SELECT IV, FV FROM VT WHERE ID = 0")
    assert [FIELD_ID_TO_NAME[column.type_code] for column in cur.description] == ["VECTOR", "VECTOR"]
    int_vector, float_vector = cur._description_internal
    assert (int_vector.vector_dimension, float_vector.vector_dimension) == (3, 2)
    assert int_vector.fields is not None and float_vector.fields is not None
    assert FIELD_ID_TO_NAME[int_vector.fields[0].type_code] == "FIXED"
    assert FIELD_ID_TO_NAME[float_vector.fields[0].type_code] == "REAL"


def test_vectors_arrive_as_fixed_size_lists_of_32_bit_numbers(connect: Any) -> None:
    import pyarrow as pa

    cur = connect().cursor()
    table = cur.execute("SELECT [1, 2, 3]::VECTOR(INT, 3) AS I, [1.5, 2]::VECTOR(FLOAT, 2) AS F").fetch_arrow_all()
    assert table is not None
    assert table.schema.field("I").type == pa.list_(pa.int32(), 3)
    assert table.schema.field("F").type == pa.list_(pa.float32(), 2)
    assert table.to_pylist() == [{"I": [1, 2, 3], "F": [1.5, 2.0]}]


def test_pandas_holds_a_vector_as_an_array_of_its_element_type(connect: Any) -> None:
    pytest.importorskip("pandas")
    cur = connect().cursor()
    frame = cur.execute("SELECT [1.25, 2.5, 3]::VECTOR(FLOAT, 3) AS V").fetch_pandas_all()
    assert frame["V"][0].dtype.name == "float32"
    assert frame["V"][0].tolist() == [1.25, 2.5, 3.0]


def test_the_json_result_format_sends_vectors_as_json_arrays(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("ALTER SESSION SET PYTHON_CONNECTOR_QUERY_RESULT_FORMAT = 'JSON'")
    cur.execute("SELECT [1, 2, 3]::VECTOR(INT, 3), [1.1, 2.2]::VECTOR(FLOAT, 2), NULL::VECTOR(INT, 2)")
    assert cur._query_result_format == "json"
    row = cur.fetchone()
    assert row == ([1, 2, 3], [1.1, 2.2], None)


def test_vectors_compare_for_equality_and_order_rows(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    matched = cur.execute("SELECT ID FROM VT WHERE IV = [1, -2, 3]::VECTOR(INT, 3)").fetchall()
    assert matched == [(1,)]
    none = cur.execute("SELECT ID FROM VT WHERE IV = [1, 2, 3]::VECTOR(INT, 3)").fetchall()
    assert none == []
    ordered = cur.execute("SELECT ID FROM VT ORDER BY FV").fetchall()
    assert ordered == [(2,), (1,), (3,)]


def test_vector_functions_measure_similarity_and_distance(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute(
        "SELECT VECTOR_INNER_PRODUCT([1, 2]::VECTOR(FLOAT, 2), [3, 4]::VECTOR(FLOAT, 2)),"
        " VECTOR_L2_DISTANCE([1, 2]::VECTOR(INT, 2), [4, 6]::VECTOR(INT, 2)),"
        " VECTOR_COSINE_SIMILARITY([1, 0]::VECTOR(FLOAT, 2), [0, 1]::VECTOR(FLOAT, 2)),"
        " VECTOR_COSINE_SIMILARITY([2, 0]::VECTOR(FLOAT, 2), [3, 0]::VECTOR(FLOAT, 2)),"
        " VECTOR_L1_DISTANCE([1, 2]::VECTOR(INT, 2), [4, 6]::VECTOR(INT, 2))"
    ).fetchone()
    assert row == pytest.approx((11.0, 5.0, 0.0, 1.0, 7.0))


@pytest.mark.parametrize(
    "function", ["VECTOR_INNER_PRODUCT", "VECTOR_L2_DISTANCE", "VECTOR_COSINE_SIMILARITY", "VECTOR_L1_DISTANCE"]
)
def test_vector_functions_refuse_vectors_of_two_dimensions(connect: Any, function: str) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match="dimension"):
        cur.execute(f"SELECT {function}([1, 2]::VECTOR(FLOAT, 2), [1, 2, 3]::VECTOR(FLOAT, 3))")


def test_a_cast_to_the_wrong_dimension_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    with pytest.raises(ProgrammingError, match=r"4 elements to VECTOR\(INT, 3\)") as info:
        cur.execute("INSERT INTO VT SELECT 4, [1, 2, 3, 4]::VECTOR(INT, 3), NULL")
    assert info.value.sqlstate == "22000"
    assert cur.execute("SELECT COUNT(*) FROM VT").fetchone() == (3,)


def test_a_null_element_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match=r"NULL elements to VECTOR\(FLOAT, 2\)"):
        cur.execute("SELECT [1, NULL]::VECTOR(FLOAT, 2)")


def test_a_non_numeric_element_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match="'a'"):
        cur.execute("SELECT [1, 'a', 3]::VECTOR(INT, 3)")


def test_try_cast_gives_null_where_a_cast_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute("SELECT TRY_CAST([1, 2] AS VECTOR(INT, 3)), TRY_CAST([1, 2] AS VECTOR(INT, 2))").fetchone()
    assert row == (None, [1, 2])


@pytest.mark.parametrize(
    ("sf_type", "problem"),
    [("VECTOR(STRING, 3)", "element type"), ("VECTOR(INT, 4097)", "dimension"), ("VECTOR(INT, 0)", "dimension")],
)
def test_an_invalid_vector_type_is_a_compilation_error(connect: Any, sf_type: str, problem: str) -> None:
    cur = connect().cursor()
    with pytest.raises(ProgrammingError, match=f"invalid VECTOR {problem}") as info:
        cur.execute(f"CREATE TEMPORARY TABLE BAD (V {sf_type})")
    assert "SQL compilation error" in str(info.value.msg)


def test_a_null_element_written_into_a_vector_column_without_a_cast_is_refused(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    with pytest.raises(IntegrityError, match=r"Column IV is VECTOR\(INT, 3\), whose elements are never NULL"):
        cur.execute("INSERT INTO VT SELECT 4, [1, NULL, 3], NULL")
    with pytest.raises(IntegrityError, match="never NULL"):
        cur.execute("UPDATE VT SET IV = [7, NULL, 9] WHERE ID = 1")
    assert cur.execute("SELECT IV FROM VT WHERE ID = 1").fetchone() == ([1, -2, 3],)


def test_a_null_element_in_an_added_vector_column_is_refused_when_read(connect: Any) -> None:
    cur = connect().cursor()
    _vector_table(cur)
    cur.execute("ALTER TABLE VT ADD COLUMN EXTRA VECTOR(FLOAT, 2)")
    cur.execute("UPDATE VT SET EXTRA = [1, NULL] WHERE ID = 1")
    with pytest.raises(ProgrammingError, match="NULL element"):
        cur.execute("SELECT EXTRA FROM VT WHERE ID = 1")
    assert cur.execute("SELECT EXTRA FROM VT WHERE ID = 2").fetchone() == (None,)


def test_a_vector_casts_to_a_vector_of_the_other_element_type(connect: Any) -> None:
    cur = connect().cursor()
    row = cur.execute("SELECT [1, 2, 3]::VECTOR(INT, 3)::VECTOR(FLOAT, 3), [1.25, 2]::VECTOR(FLOAT, 2)::VECTOR(INT, 2)")
    assert row.fetchone() == ([1.0, 2.0, 3.0], [1, 2])


def test_describe_table_names_vector_columns_as_snowflake_does(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("CREATE OR REPLACE TABLE VECTORS_DESCRIBED (ID INT, IV VECTOR(INT, 3), FV VECTOR(FLOAT, 2))")
    try:
        types = {row[0]: row[1] for row in cur.execute("DESCRIBE TABLE VECTORS_DESCRIBED").fetchall()}
    finally:
        cur.execute("DROP TABLE VECTORS_DESCRIBED")
    assert types == {"ID": "NUMBER(38,0)", "IV": "VECTOR(INT, 3)", "FV": "VECTOR(FLOAT, 2)"}
