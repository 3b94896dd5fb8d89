"""Timing a command as a user runs it: a new process each run, its wall time and its CPU time."""

from __future__ import annotations

import dataclasses
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence


@dataclasses.dataclass
class Timed:
    walls: list[float] = dataclasses.field(default_factory=list)
    cpus: list[float] = dataclasses.field(default_factory=list)
    stdout: str = ""  # of the last run


def time_command(command: Sequence[str], env: Mapping[str, str], runs: int) -> Timed:
    """Run `command` `runs` times; exits with its output when a run fails."""
    timed = Timed()
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(list(command), capture_output=True, text=True, env=dict(env), check=False)
        timed.walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timed.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command[:4])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        timed.stdout = done.stdout
    return timed


def line(label: str, seconds: Sequence[float]) -> str:
    """`label: 1.20, 1.31  (median 1.25)`."""
    return f"{label}: " + ", ".join(f"{t:.2f}" for t in seconds) + f"  (median {statistics.median(seconds):.2f})"
