"""Regions of a batched group's work that the CUDA path captures as CUDA graphs.

A ``Region`` is a fixed piece of a group's work on static tensors: the full-batch training step,
the epoch's last (partial) step, the draw of a chunk of dropout masks, the validation and the test
evaluation (``batched.py``). On CUDA, with graphs on, each region runs eagerly ``WARMUP`` times
on its group's stream (that initialises the optimiser's state and the libraries' per-stream
workspaces there), is then captured once into a CUDA graph in the group's own memory pool, and is
replayed from then on. Everything of a group, warm-up, capture and replay, runs on one fixed
stream per group (``GraphSpace``): the group's graphs share its pool, which is safe because they
replay one after another on that stream, and groups on other streams never share it.

A capture goes through ``CUDAGraph.capture_begin`` / ``capture_end`` directly: no device-wide
synchronisation and no emptying of the allocator's cache per capture (the ``torch.cuda.graph``
context does both on entry). A capture that fails, in its body or in ``capture_end``, ends the
capture, returns the allocator to normal, leaves the group's stream as it was and turns graphs
off for the whole group: its regions run eagerly from then on, and its result rows say
``batched`` and why (``GraphSpace.note``). Nothing recorded during a failed capture ran, so the
group's tensors are as they were before it.

On a CPU (or with ``train.cuda_graphs: off``) every region runs eagerly, in the same order: the
same schedule as on CUDA, so the CPU equivalence tests cover it. ``inside()`` is true while a
region's body runs: ``benchmarks/gpu_projection.py`` counts the kernels dispatched there, the
share of an epoch's kernels that the CUDA path captures.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Callable

import torch

log = logging.getLogger("snnbench.train")

_DEPTH = 0


def inside() -> bool:
    """Whether a region's body is running now (on any device)."""
    return _DEPTH > 0


@dataclass
class Stats:
    """What the regions did in this process: graphs captured, replays, eager calls (warm-up, CPU,
    graphs off) and failed captures (their messages)."""

    captures: int = 0
    replays: int = 0
    eager: int = 0
    failures: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.captures = self.replays = self.eager = 0
        self.failures = []


STATS = Stats()


class GraphSpace:
    """One group's CUDA stream, memory pool and graph mode; ``note`` says why graphs are off."""

    def __init__(self, device: torch.device, *, graphs: bool, note: str = "") -> None:
        self.device = device
        self.graphs = graphs and device.type == "cuda"
        self.note = note if not self.graphs else ""
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.pool = torch.cuda.graph_pool_handle() if self.graphs else None
        self.replays = 0

    def context(self) -> contextlib.AbstractContextManager:
        """Every op of the group runs inside this: on its own stream on CUDA."""
        return torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext()

    def switch_off(self, why: str) -> None:
        self.graphs = False
        self.note = why

    def engine(self) -> tuple[str, str]:
        """The result rows' ``engine`` and ``engine_note`` (a group that replayed graphs and then
        had a capture fail says both)."""
        if self.replays:
            return "batched+graphs", self.note
        return "batched", self.note or "no graph was replayed"


def _run(fn: Callable[[], None]) -> None:
    global _DEPTH
    _DEPTH += 1
    try:
        fn()
    finally:
        _DEPTH -= 1


class Region:
    """A piece of a group's work that runs as one CUDA graph (see the module's docstring)."""

    WARMUP = 2

    def __init__(self, space: GraphSpace, name: str, fn: Callable[[], None]) -> None:
        self.space, self.name, self.fn = space, name, fn
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None

    def __call__(self) -> None:
        space = self.space
        if self.graph is not None:
            self.graph.replay()
            STATS.replays += 1
            space.replays += 1
            return
        if space.graphs and self.calls >= self.WARMUP and self._capture():
            self.graph.replay()
            STATS.replays += 1
            space.replays += 1
            return
        self.calls += 1
        STATS.eager += 1
        _run(self.fn)

    def _capture(self) -> bool:
        """Record ``fn`` into a graph (recording runs nothing); False, graphs off, on failure."""
        space = self.space
        graph = torch.cuda.CUDAGraph()
        error: BaseException | None = None
        try:
            graph.capture_begin(pool=space.pool, capture_error_mode="thread_local")
        except Exception as exc:  # nothing started
            return self._failed(f"{type(exc).__name__}: {exc}")
        try:
            _run(self.fn)
        except Exception as exc:
            error = exc
        try:
            graph.capture_end()
        except Exception as exc:
            error = error or exc
            _end_allocation_to_pool(space)
        if error is not None:
            return self._failed(f"{type(error).__name__}: {error}")
        self.graph = graph
        STATS.captures += 1
        return True

    def _failed(self, why: str) -> bool:
        message = f"capture of the {self.name} failed ({why})"
        log.warning("%s; this group trains without CUDA graphs", message)
        STATS.failures.append(message)
        self.space.switch_off(message)
        return False


def _end_allocation_to_pool(space: GraphSpace) -> None:
    """After a failed ``capture_end`` the allocator may still route the stream's allocations to
    the graph's pool: end that (a no-op where it had ended)."""
    end = getattr(torch._C, "_cuda_endAllocateToPool", None)
    if end is None:
        return
    try:
        end(space.device.index if space.device.index is not None else torch.cuda.current_device(), space.pool)
    except Exception:  # already ended
        pass
