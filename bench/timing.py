"""Timing helpers shared by the benchmarks: median wall and CPU seconds, and the machine's load."""
from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads, and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_seconds(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock seconds and median CPU seconds of `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), cpu_seconds()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())
