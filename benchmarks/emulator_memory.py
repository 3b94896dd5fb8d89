"""What long statement texts and a gzip bomb cost the local Snowflake's memory.

    .venv/bin/python benchmarks/emulator_memory.py [--statements 60] [--text-mib 2] [--bomb-mib 1024]

Runs `--statements` distinct statements of `--text-mib` MiB of text each (a long string literal, a small
result) through the real driver on a fresh emulator, then sends a gzip body that inflates to `--bomb-mib` MiB.
Prints a Markdown table: the server's RSS growth and peak, what the history and the plan cache hold, and how
long the bomb took to be refused.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import zlib

import snowflake.connector

from flyteplugins.snowflake.local import LocalSnowflake

_MIB = 1024 * 1024


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _bomb(mib: int) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"0" * _MIB
    return b"".join([deflater.compress(b'{"sqlText": "'), *(deflater.compress(zeros) for _ in range(mib))]) + (
        deflater.compress(b'"}') + deflater.flush()
    )


def _send_bomb(sf: LocalSnowflake, token: str, body: bytes) -> tuple[float, str]:
    conn = http.client.HTTPConnection(sf.host, sf.port, timeout=600)
    began = time.perf_counter()
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Authorization": f'Snowflake Token="{token}"',
    }
    conn.request("POST", "/queries/v1/query-request", body=body, headers=headers)
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return time.perf_counter() - began, str(answer.get("code"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=60)
    parser.add_argument("--text-mib", type=float, default=2.0)
    parser.add_argument("--bomb-mib", type=int, default=1024)
    args = parser.parse_args()
    with LocalSnowflake() as sf:
        conn = snowflake.connector.connect(**sf.connect_kwargs())
        cur = conn.cursor()
        cur.execute("select 1")
        base = sf.stats()
        literal = "x" * int(args.text_mib * _MIB)
        for i in range(args.statements):
            cur.execute(f"select length('{literal}') + {i}")
        stats = sf.stats()
        peak_before = _peak_rss(sf.pid or 0)
        seconds, code = _send_bomb(sf, conn.rest.token or "", _bomb(args.bomb_mib))
        bomb_peak = _peak_rss(sf.pid or 0) - peak_before
        conn.close()
    rows = [
        (
            f"RSS growth after {args.statements} statements of {args.text_mib} MiB",
            stats["rss_bytes"] - base["rss_bytes"],
        ),
        ("history bytes kept", stats["history_bytes"]),
        ("plan bytes kept (estimated)", stats["plan_bytes"]),
        (f"peak RSS growth for a {args.bomb_mib} MiB gzip bomb", bomb_peak),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value / _MIB:.0f} MiB |")
    print(f"| the bomb refused after | {seconds * 1000:.0f} ms (code {code}) |")


if __name__ == "__main__":
    main()
