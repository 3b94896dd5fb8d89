"""A large `query_tag` dict: what defining the task and building each statement's QUERY_TAG cost.

    .venv/bin/python benchmarks/query_tag.py [--sizes 250,500,1000,2000,4000] [--src PATH]

For each size N, a dict of N small entries (`"key_i": "value-i"`, about 20 characters each):

- `define`: `SnowflakeConfig(query_tag=...)`, and whether it accepts the tag (a tag above 1500 characters of JSON
  is refused there, naming the size and the fix);
- `build`: `build_query_tag(...)`, which a CreateTask runs on the connector service's event loop for every
  submit: it fits the JSON into Snowflake's 2000 characters by cutting the longest values first.

Each time is the best of 5 runs (one run when it takes over a second). `--src PATH` imports the plugin from
another checkout's `src` instead, to compare with an older version (`git worktree add /tmp/old <commit>`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

FLYTE = {"task": "analytics.nightly_load", "project": "flytesnacks", "domain": "development", "run": "r8x2k"}


def _best(fn: Callable[[], Any]) -> float:
    times: list[float] = []
    for _ in range(5):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        if times[-1] > 1.0:
            break
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000,4000")
    parser.add_argument("--src", help="import flyteplugins.snowflake from this src directory")
    args = parser.parse_args()
    if args.src:
        sys.path.insert(0, args.src)
    from flyteplugins.snowflake import SnowflakeConfig
    from flyteplugins.snowflake._sql import build_query_tag
    from flyteplugins.snowflake.errors import SnowflakeConfigError

    print("| entries | JSON chars | define | accepted | build_query_tag |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        tag = {f"key_{i}": f"value-{i}" for i in range(size)}
        accepted = True

        def define(tag: dict[str, str] = tag) -> None:
            nonlocal accepted
            try:
                SnowflakeConfig("myorg-acct", "DB", "PUBLIC", "WH", "ME", query_tag=tag)
            except SnowflakeConfigError:
                accepted = False

        defined = _best(define)
        built = _best(lambda tag=tag: build_query_tag(dict(tag), FLYTE))
        chars = len(json.dumps(tag, separators=(",", ":")))
        answer = "yes" if accepted else "refused"
        print(f"| {size} | {chars} | {defined * 1000:.2f} ms | {answer} | {built * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
