"""Progress of a grid: one redrawn line with an ETA in a terminal, plain log lines otherwise.

The ETA weighs each configuration by its parameter count (its cost per example), so a grid
whose small nets come first does not promise too early an end.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class GridProgress:
    def __init__(self, *, label: str, costs: list[float], stream: TextIO | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.label = label
        self.costs = [max(float(c), 1.0) for c in costs]
        self.total = sum(self.costs)
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log = logger or logging.getLogger("snnbench.train")
        self.done_cost = 0.0
        self.done = 0
        self.start = time.perf_counter()

    def eta(self) -> float | None:
        if self.done_cost <= 0:
            return None
        elapsed = time.perf_counter() - self.start
        return elapsed / self.done_cost * (self.total - self.done_cost)

    def update(self, index: int, text: str) -> None:
        self.done += 1
        self.done_cost += self.costs[index]
        elapsed = time.perf_counter() - self.start
        eta = self.eta()
        line = (f"{self.label} [{self.done}/{len(self.costs)}] {text} | elapsed {clock(elapsed)}"
                f"{'' if eta is None else ' ETA ' + clock(eta)}")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.stream.flush()
        else:
            self.log.info(line)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
