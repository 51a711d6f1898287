"""One GPU per training job on a multi-GPU workstation.

``snakemake --cores N --resources gpu=G`` lets G training jobs (``train.gpus: 1``) run at once;
each must then use a GPU the others do not. A job claims one: it takes an exclusive ``flock``
on ``<lock dir>/<host>/gpu<id>.lock`` for the first free device of those visible, and sets
``CUDA_VISIBLE_DEVICES`` to that device for itself before CUDA starts, so ``cuda`` means the
claimed GPU. The lock is the open file: the kernel releases it when the process ends, however
it ends (a killed job leaves no stale claim). Under SLURM the scheduler has already given the
job its own GPUs (``CUDA_VISIBLE_DEVICES`` set per job), and nothing is claimed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import SnnbenchError

log = logging.getLogger("snnbench.devices")

LOCK_DIR_ENV = "SNNBENCH_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = ".snakemake/gpu-locks"


@dataclass
class Claim:
    """A claimed device: ``device`` the id as the job found it (a CUDA_VISIBLE_DEVICES entry),
    ``how`` why this one (claimed, scheduler, none)."""

    device: str | None
    how: str
    lock_path: str | None = None
    _handle: IO | None = None

    def as_dict(self) -> dict:
        return {"device": self.device, "how": self.how, "lock": self.lock_path, "host": socket.gethostname(),
                "pid": os.getpid()}

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def visible_gpus(environ: dict | None = None) -> list[str]:
    """The GPU ids this process may use, without starting CUDA: ``CUDA_VISIBLE_DEVICES`` if set,
    else the devices ``nvidia-smi`` lists (none where it is absent)."""
    environ = os.environ if environ is None else environ
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        return [part.strip() for part in value.split(",") if part.strip() and part.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def claim_gpu(*, wanted: int, lock_dir: str | os.PathLike | None = None, wait_s: float = 600.0,
              environ: dict | None = None) -> Claim:
    """Claim one free GPU for this process (see the module's docstring) when ``wanted`` > 0.

    Sets ``CUDA_VISIBLE_DEVICES`` in ``environ`` (default ``os.environ``) to the claimed id. All
    devices busy: waits up to ``wait_s`` (another job's claim ends when it ends), then raises.
    """
    environ = os.environ if environ is None else environ
    if wanted <= 0:
        return Claim(None, "none: the job asked for no GPU (train.gpus: 0)")
    if wanted > 1:
        raise SnnbenchError(f"train.gpus is {wanted}: a training job uses one GPU (set train.gpus: 1 and "
                            "`--resources gpu=G` for G jobs on G GPUs)")
    if "SLURM_JOB_ID" in environ:
        return Claim(environ.get("CUDA_VISIBLE_DEVICES"), "scheduler: SLURM assigned this job its GPU")
    devices = visible_gpus(environ)
    if not devices:
        return Claim(None, "none: no GPU visible (CUDA_VISIBLE_DEVICES unset and no nvidia-smi)")
    folder = Path(lock_dir or environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR) / socket.gethostname()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        for device in devices:
            path = folder / f"gpu{device}.lock"
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            environ["CUDA_VISIBLE_DEVICES"] = device
            log.info("claimed GPU %s of %s (%s)", device, ",".join(devices), path)
            return Claim(device, "claimed", str(path), handle)
        if time.monotonic() >= deadline:
            raise SnnbenchError(
                f"every GPU in {devices} is claimed by another training job (locks under {folder}) and none "
                f"became free in {wait_s:.0f} s: run at most {len(devices)} GPU jobs at once "
                f"(`--resources gpu={len(devices)}`)")
        time.sleep(0.5)
