"""`python -m flyteplugins.snowflake.local --port 0`: serve the local Snowflake; prints `READY <host>:<port>`.

The admin API (`/_local/...`) needs a token: the value of `FLYTE_SNOWFLAKE_LOCAL_ADMIN_TOKEN` when it is set,
else one made up at start-up and printed as `ADMIN_TOKEN <token>` on the line before `READY`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Sequence

from ._access import DEFAULT_DATABASE, DEFAULT_WAREHOUSE, parse_database
from ._admin_token import ADMIN_AUTH_SCHEME, ADMIN_TOKEN_ENV, server_token
from ._knobs import Knobs, check_loopback, parse_first_status
from ._login_user import DEFAULT_USER, PASSWORD_ENV, server_password


def parse_args(
    argv: Sequence[str] | None = None,
) -> tuple[str, int, Knobs, bool, list[str], str, list[tuple[str, str]]]:
    parser = argparse.ArgumentParser(
        prog="python -m flyteplugins.snowflake.local",
        description="A local Snowflake for tests: the official driver connects to it over HTTP on loopback.",
        epilog=(
            f"Admin requests (/_local/...) send 'Authorization: {ADMIN_AUTH_SCHEME} <token>': the token is "
            f"{ADMIN_TOKEN_ENV} when set, else made up and printed as 'ADMIN_TOKEN <token>' before READY."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    parser.add_argument("--min-query-ms", type=int, default=0, help="every query stays RUNNING at least this long")
    parser.add_argument(
        "--first-status",
        metavar="STATUS:MS",
        help="status a query shows first, e.g. RESUMING_WAREHOUSE:300 (QUEUED, BLOCKED, NO_DATA, ...)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every wire-protocol request")
    parser.add_argument("--result-ttl-s", type=float, default=3600.0, help="results are dropped after this age")
    parser.add_argument("--max-results", type=int, default=1000, help="at most this many results are kept")
    parser.add_argument(
        "--max-result-bytes",
        type=int,
        default=1024 * 1024 * 1024,
        help="at most this many bytes of results are kept; a larger result fails its query (default 1 GiB)",
    )
    parser.add_argument("--max-history", type=int, default=10_000, help="at most this many query records are kept")
    parser.add_argument(
        "--max-history-bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="at most this many bytes of query texts are kept in the history (default 64 MiB)",
    )
    parser.add_argument(
        "--result-first-chunk-bytes",
        type=int,
        default=128 * 1024,
        help="larger results go to the driver in chunks: the first of about this many Arrow bytes (default 128 KiB),"
        " each next one twice as large",
    )
    parser.add_argument(
        "--result-chunk-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="the largest result chunk, in Arrow bytes (default 4 MiB)",
    )
    parser.add_argument(
        "--result-chunk-rows", type=int, default=1_000_000, help="at most this many rows per result chunk"
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=128 * 1024 * 1024,
        help="larger request bodies (once gzip-inflated) are refused (default 128 MiB)",
    )
    parser.add_argument(
        "--monitor-role",
        action="append",
        default=[],
        metavar="ROLE",
        help="a role that sees and may cancel every user's queries, besides ACCOUNTADMIN (repeatable)",
    )
    parser.add_argument(
        "--warehouse",
        action="append",
        metavar="NAME",
        help=f"a warehouse that exists from the start (repeatable; default {DEFAULT_WAREHOUSE})",
    )
    parser.add_argument(
        "--database",
        action="append",
        metavar="DB[.SCHEMA]",
        help=f"a database (with its PUBLIC schema) and schema that exist from the start (repeatable; default "
        f"{DEFAULT_DATABASE}); a login naming one that does not exist has none, as in Snowflake",
    )
    parser.add_argument(
        "--user",
        default=DEFAULT_USER,
        help=f"the user that logs in from the start (default {DEFAULT_USER}); its password is {PASSWORD_ENV} when "
        "set, else made up and printed as 'PASSWORD <password>' before READY",
    )
    parser.add_argument(
        "--open-logins",
        action="store_true",
        help="accept any user name and password, unlike Snowflake (for quick experiments only)",
    )
    # LocalSnowflake passes this: the server stops when its parent's end of stdin closes (the parent died)
    parser.add_argument("--exit-with-stdin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    first_status, first_status_ms = (None, 0)
    try:
        if args.first_status:
            first_status, first_status_ms = parse_first_status(args.first_status)
        knobs = Knobs(
            min_query_ms=args.min_query_ms,
            first_status=first_status,
            first_status_ms=first_status_ms,
            latency_ms=args.latency_ms,
            result_ttl_s=args.result_ttl_s,
            max_results=args.max_results,
            max_result_bytes=args.max_result_bytes,
            max_history=args.max_history,
            max_history_bytes=args.max_history_bytes,
            result_first_chunk_bytes=args.result_first_chunk_bytes,
            result_chunk_bytes=args.result_chunk_bytes,
            result_chunk_rows=args.result_chunk_rows,
            max_request_bytes=args.max_request_bytes,
            monitor_roles=("ACCOUNTADMIN", *args.monitor_role),
            strict_users=not args.open_logins,
        )
        check_loopback(args.host)
        databases = [parse_database(text) for text in args.database or [DEFAULT_DATABASE]]
    except ValueError as exc:
        parser.error(str(exc))
    warehouses = args.warehouse or [DEFAULT_WAREHOUSE]
    return args.host, args.port, knobs, bool(args.exit_with_stdin), warehouses, str(args.user), databases


def _exit_on_stdin_eof() -> None:
    sys.stdin.read()
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> None:
    host, port, knobs, exit_with_stdin, warehouses, user, databases = parse_args(argv)
    password, password_made_up = server_password()
    try:
        admin_token, made_up = server_token()
    except ValueError as exc:
        sys.exit(f"python -m flyteplugins.snowflake.local: error: {exc}")
    if exit_with_stdin:
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    from ._server import serve  # imports fakesnow / DuckDB: after the arguments are known to be valid

    def ready(bound_host: str, bound_port: int) -> None:
        # What is alive now (fakesnow, DuckDB, sqlglot, the app) lives as long as the server: leave it out of
        # the garbage collector's full passes, which otherwise walk it all and stall every answer for 100-150 ms
        # now and then (seen under the 500-query load).
        gc.freeze()
        if made_up:  # whoever started the server needs it for the admin API; a token it passed in stays unsaid
            sys.stdout.write(f"ADMIN_TOKEN {admin_token}\n")
        if password_made_up:  # the start-up user's, for whoever logs in by hand
            sys.stdout.write(f"PASSWORD {password}\n")
        sys.stdout.write(f"READY {bound_host}:{bound_port}\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve(
            host,
            port,
            knobs,
            on_ready=ready,
            admin_token=admin_token,
            warehouses=warehouses,
            users={user: password},
            databases=databases,
        )


if __name__ == "__main__":
    main()
