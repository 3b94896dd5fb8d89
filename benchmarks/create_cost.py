"""The connector service's CPU per CreateTask: one `c0` replica takes N creates (no status checks) from a pool of
client threads, on the local Snowflake; c0's CPU (all its threads, from /proc) before and after.

    .venv/bin/python benchmarks/create_cost.py [--creates 500] [--threads 16]

`requests`, under the driver, reads the environment on every request unless our login could turn that off (no
proxy or CA-bundle variable, no netrc file: `_client._skip_environment_lookups`); run it as
`env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE ...` to see the difference on a machine that sets them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from c0_harness import Backend, ConnectorService, literal_inputs, snowflake_task, template_of

from flyteplugins.snowflake import _client
from flyteplugins.snowflake.local import LocalSnowflake
from service_load import _cpu_seconds

WARM_UP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--threads", type=int, default=16, help="client threads, each one CreateTask at a time")
    args = parser.parse_args()
    with LocalSnowflake(min_query_ms=600_000) as sf, tempfile.TemporaryDirectory() as tmp:
        task = snowflake_task(sf, "SELECT %(n)s AS n, 'create_cost' AS marker", {"n": int}, name="load")
        template = template_of(task)
        inputs = [literal_inputs(task, n=i) for i in range(WARM_UP + args.creates)]
        service = ConnectorService(Path(tmp)).start()
        try:
            backend = Backend(service)
            for literals in inputs[:WARM_UP]:  # the first calls import the driver and log in
                backend.create(template, literals)
            assert service.process is not None
            cpu0, began = _cpu_seconds(service.process.pid), time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda literals: backend.create(template, literals), inputs[WARM_UP:]))
            cpu, wall = _cpu_seconds(service.process.pid) - cpu0, time.perf_counter() - began
        finally:
            service.stop()
    lookups = "kept (a proxy, CA-bundle or netrc setting)" if _client._environment_matters() else "skipped"
    print(
        f"{args.creates} CreateTasks from {args.threads} threads: c0 CPU {cpu * 1000 / args.creates:.2f} ms per "
        f"create, {args.creates / wall:.0f} creates/s; environment look-ups {lookups}"
    )


if __name__ == "__main__":
    main()
