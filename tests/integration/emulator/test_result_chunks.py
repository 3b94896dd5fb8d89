"""12: large results come as Snowflake sends them: the first part inline, the rest as chunks the driver downloads.

Each chunk is an Arrow IPC stream at a private URL on the emulator; the driver sends the result's SSE-C headers.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from snowflake.connector.errors import HttpError

pytestmark = pytest.mark.integration

ROWS = 300_000
SQL = (
    f"SELECT seq4() AS ID, seq4() * 0.5::FLOAT AS X, 'name_' || seq4() AS NAME "
    f"FROM TABLE(GENERATOR(ROWCOUNT => {ROWS})) ORDER BY ID"
)


def _expected_rows(n: int = ROWS) -> list[tuple[int, float, str]]:
    return [(i, i * 0.5, f"name_{i}") for i in range(n)]


def _check_table(table: pa.Table, n: int = ROWS) -> None:
    assert table.num_rows == n
    assert table.column("ID").to_pylist() == list(range(n))
    assert table.column("X").to_pylist() == [i * 0.5 for i in range(n)]
    assert table.column("NAME").to_pylist() == [f"name_{i}" for i in range(n)]


def test_a_large_result_comes_in_several_chunks_with_exact_values(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute(SQL)
    batches = cur.get_result_batches()
    assert batches is not None and len(batches) > 1, "300k rows should not be sent in one inline block"
    assert sum(b.rowcount for b in batches) == ROWS
    assert cur.fetchall() == _expected_rows()


def test_every_fetch_path_reads_the_chunks(connect: Any) -> None:
    cur = connect().cursor()
    arrow_batches = list(cur.execute(SQL).fetch_arrow_batches())
    assert len(arrow_batches) > 1
    _check_table(pa.concat_tables(arrow_batches))
    _check_table(cur.execute(SQL).fetch_arrow_all())
    frames = list(cur.execute(SQL).fetch_pandas_batches())
    assert len(frames) > 1
    frame = pd.concat(frames, ignore_index=True)
    assert frame["ID"].tolist() == list(range(ROWS)) and frame["NAME"].iloc[-1] == f"name_{ROWS - 1}"
    whole = cur.execute(SQL).fetch_pandas_all()
    assert whole.shape == (ROWS, 3) and whole["X"].sum() == sum(i * 0.5 for i in range(ROWS))


def test_results_of_async_queries_and_result_scan_come_in_chunks(connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute_async(SQL)
    query_id = cur.sfqid
    other = connect().cursor()
    other.get_results_from_sfqid(query_id)  # waits lazily, on the first fetch
    tables = list(other.fetch_arrow_batches())
    assert len(tables) > 1
    _check_table(pa.concat_tables(tables))
    other.get_results_from_sfqid(query_id)
    assert other.fetchall() == _expected_rows()
    scan = other.execute(f"SELECT * FROM TABLE(RESULT_SCAN('{query_id}'))")
    assert len(scan.get_result_batches() or []) > 1
    assert scan.fetchall() == _expected_rows()


def test_small_results_stay_inline(connect: Any) -> None:
    cur = connect().cursor()
    cur.execute("SELECT seq4() AS ID FROM TABLE(GENERATOR(ROWCOUNT => 10000))")
    assert len(cur.get_result_batches() or []) == 1
    assert len(cur.fetchall()) == 10_000


def test_chunks_grow_from_a_small_first_part(sf: Any, connect: Any) -> None:
    # 100,000 eight-byte numbers (800 KB of Arrow data): a 128 KiB inline part, then chunks of 256 and 512 KiB
    cur = connect().cursor()
    cur.execute("SELECT seq4() AS ID FROM TABLE(GENERATOR(ROWCOUNT => 100000)) ORDER BY ID")
    rows = [b.rowcount for b in cur.get_result_batches() or []]
    assert sum(rows) == 100_000
    assert len(rows) == 3, rows
    assert rows[1] == 2 * rows[0] and rows[0] * 8 <= 128 * 1024 < (rows[0] + 1) * 8
    assert [r[0] for r in cur.fetchall()] == list(range(100_000))
    sf.configure(result_first_chunk_bytes=16 * 1024, result_chunk_bytes=64 * 1024)
    cur.execute(SQL)
    sizes = [b.rowcount for b in cur.get_result_batches() or []]
    assert sizes[:3] == [sizes[0], 2 * sizes[0], 4 * sizes[0]], "each part twice the one before"
    assert max(sizes) == 4 * sizes[0], "up to result_chunk_bytes"
    assert sum(sizes) == ROWS


def test_the_chunk_size_is_a_knob(sf: Any, connect: Any) -> None:
    sf.configure(result_chunk_rows=1000)
    cur = connect().cursor()
    cur.execute("SELECT seq4() AS ID FROM TABLE(GENERATOR(ROWCOUNT => 4500)) ORDER BY ID")
    assert [b.rowcount for b in cur.get_result_batches() or []] == [1000, 1000, 1000, 1000, 500]
    assert [r[0] for r in cur.fetchall()] == list(range(4500))
    sf.configure(result_chunk_rows=1_000_000, result_chunk_bytes=64 * 1024)
    cur.execute(SQL)
    batches = cur.get_result_batches() or []
    assert len(batches) > 20
    assert all(b.uncompressed_size is None or b.uncompressed_size < 128 * 1024 for b in batches)


def test_the_drivers_logs_mask_the_chunk_urls_signature(connect: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    cur = connect().cursor()
    cur.execute(SQL)
    url = (cur.get_result_batches() or [])[1]._remote_chunk_info.url
    signature = url.partition("X-Amz-Signature=")[2]
    assert len(cur.fetchall()) == ROWS
    logged = [line for line in caplog.text.splitlines() if "/result-chunks/" in line]
    assert logged, "the driver logs the chunk downloads"
    assert signature not in caplog.text, "a chunk URL's signature never reaches a log line"


def test_a_failed_chunk_download_is_retried(sf: Any, connect: Any) -> None:
    cur = connect().cursor()
    cur.execute(SQL)
    sf.configure(fail_next_http=(503, 2), fail_http_path="/result-chunks/")
    assert cur.fetchall() == _expected_rows()
    assert sf.knobs()["fail_http_count"] == 0, "the chunk downloads met the faults"


def test_chunks_are_private_and_expire_with_the_result(sf: Any, connect: Any) -> None:
    conn = connect()
    cur = conn.cursor()
    cur.execute(SQL)
    chunk = (cur.get_result_batches() or [])[1]
    url = chunk._remote_chunk_info.url
    assert url.startswith(sf.url + "/result-chunks/")
    with pytest.raises(urllib.error.HTTPError) as without_key:
        urllib.request.urlopen(url, timeout=10)
    without_key.value.close()
    assert without_key.value.code == 400
    signature = url.partition("X-Amz-Signature=")[2]
    assert signature, "the URL is signed as a presigned cloud-storage URL"
    forged = url.replace(signature, "x" * len(signature))
    with pytest.raises(urllib.error.HTTPError) as wrong_token:
        urllib.request.urlopen(forged, timeout=10)
    wrong_token.value.close()
    assert wrong_token.value.code == 403
    assert chunk.to_arrow().num_rows == chunk.rowcount, "with the result's headers the download works"
    sf.configure(max_results=1)
    cur.execute("SELECT 1")  # the chunked result is evicted: its chunks are gone
    with pytest.raises(HttpError) as gone:
        chunk.to_arrow(connection=conn)  # the connection's backoff: the driver retries every failed download
    assert gone.value.errno == 290404
