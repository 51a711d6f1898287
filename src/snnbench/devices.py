"""GPU job slots for training jobs on a workstation with one or more GPUs.

``snakemake --cores N --resources gpu=S`` lets S training jobs (``train.gpus: 1``) run at once,
where S is at most the machine's GPU job slots: its GPUs times ``train.jobs_per_gpu`` (J). A job
claims one slot: it takes an exclusive ``flock`` on ``<lock dir>/<host>/gpu<id>.slot<j>.lock``
(j in 0..J-1) for a free slot of the least busy GPU of those visible (lowest id among equals,
lowest slot first: all GPUs' slot 0 before any slot 1), and sets ``CUDA_VISIBLE_DEVICES`` to that
device for itself before CUDA starts, so ``cuda`` means the claimed GPU. With J = 1 a GPU is one
job's alone. The lock is the open file: the kernel releases it when the process ends, however it
ends (a killed job leaves no stale claim). Under SLURM the scheduler has already given the job its
own GPU (``CUDA_VISIBLE_DEVICES`` set per job), and nothing is claimed.
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

from .errors import ConfigError, SnnbenchError

log = logging.getLogger("snnbench.devices")

LOCK_DIR_ENV = "SNNBENCH_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = ".snakemake/gpu-locks"


@dataclass
class Claim:
    """A claimed device: ``device`` the id as the job found it (a CUDA_VISIBLE_DEVICES entry),
    ``how`` why this one (claimed, scheduler, none), ``slot`` which of the device's ``slots`` job
    slots (train.jobs_per_gpu) this job holds (claimed only)."""

    device: str | None
    how: str
    lock_path: str | None = None
    slot: int | None = None
    slots: int = 1
    _handle: IO | None = None

    def as_dict(self) -> dict:
        return {"device": self.device, "slot": self.slot, "slots": self.slots, "how": self.how,
                "lock": self.lock_path, "host": socket.gethostname(), "pid": os.getpid()}

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


def _check_slots(slots: int) -> None:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ConfigError(f"train.jobs_per_gpu is {slots!r}: it must be an integer of at least 1 "
                          "(the training jobs that share one GPU; 1: a GPU per job)")


def gpu_resource_problem(given: int | None, *, jobs_per_gpu: int, environ: dict | None = None) -> str | None:
    """Why Snakemake's ``--resources gpu=<given>`` does not fit this machine's GPU job slots
    (visible GPUs × ``jobs_per_gpu``), for the workflow to stop on before any job starts; None
    when it fits, under SLURM, or where no GPU is visible (training jobs then claim nothing).

    Snakemake starts as many training jobs as the ``gpu`` resource allows (all its cores' worth
    when it is not given); a job beyond the slots waits for a free one and fails after 10 minutes.
    """
    environ = os.environ if environ is None else environ
    _check_slots(jobs_per_gpu)
    if "SLURM_JOB_ID" in environ:
        return None
    devices = visible_gpus(environ)
    if not devices:
        return None
    slots = len(devices) * jobs_per_gpu
    have = (f"this machine has {len(devices)} GPU(s) {devices} × train.jobs_per_gpu {jobs_per_gpu} = {slots} GPU "
            f"job slot(s)")
    if given is None:
        return (f"train.gpus is 1 and {have}, but Snakemake was not given the `gpu` resource: run with "
                f"`--resources gpu={slots}` (GPUs × train.jobs_per_gpu); without it every core starts a training "
                "job and those beyond the slots fail after waiting 10 minutes for one")
    if given > slots:
        return (f"`--resources gpu={given}` but {have}: run with `--resources gpu={slots}` (or fewer), or raise "
                f"train.jobs_per_gpu; the jobs beyond the slots would fail after waiting 10 minutes for one")
    return None


def _lock(path: Path) -> IO | None:
    """The open, exclusively locked file at ``path``, or None when another process holds it."""
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _slot_path(folder: Path, device: str, slot: int) -> Path:
    return folder / f"gpu{device}.slot{slot}.lock"


def _busy_slots(folder: Path, device: str, slots: int) -> int:
    """How many of the device's slots other processes hold now (a probe: a free slot's lock is
    taken and at once released)."""
    busy = 0
    for slot in range(slots):
        handle = _lock(_slot_path(folder, device, slot))
        if handle is None:
            busy += 1
        else:
            handle.close()
    return busy


def _take_free_slot(folder: Path, devices: list[str], slots: int) -> tuple[str, int, Path, IO] | None:
    """Lock a free slot of the least busy device (lowest index among equals, lowest slot first)."""
    if slots == 1:
        order = list(devices)  # one slot per GPU: the first free device, no probe needed
    else:
        busy = {device: _busy_slots(folder, device, slots) for device in devices}
        order = sorted(devices, key=lambda device: (busy[device], devices.index(device)))
    for device in order:
        for slot in range(slots):
            path = _slot_path(folder, device, slot)
            handle = _lock(path)
            if handle is not None:  # another claim may have taken a probed slot meanwhile: go on
                return device, slot, path, handle
    return None


def claim_gpu(*, wanted: int, slots: int = 1, lock_dir: str | os.PathLike | None = None, wait_s: float = 600.0,
              environ: dict | None = None) -> Claim:
    """Claim a GPU job slot for this process (see the module's docstring) when ``wanted`` > 0:
    one of ``slots`` (train.jobs_per_gpu) on a visible GPU.

    Sets ``CUDA_VISIBLE_DEVICES`` in ``environ`` (default ``os.environ``) to the claimed id. All
    slots busy: waits up to ``wait_s`` (another job's claim ends when it ends), then raises.
    """
    environ = os.environ if environ is None else environ
    _check_slots(slots)
    if wanted <= 0:
        return Claim(None, "none: the job asked for no GPU (train.gpus: 0)")
    if wanted > 1:
        raise SnnbenchError(f"train.gpus is {wanted}: a training job uses one GPU (set train.gpus: 1, and "
                            "train.jobs_per_gpu: J with `--resources gpu=G×J` for J jobs on each of G GPUs)")
    if "SLURM_JOB_ID" in environ:
        return Claim(environ.get("CUDA_VISIBLE_DEVICES"), "scheduler: SLURM assigned this job its GPU")
    devices = visible_gpus(environ)
    if not devices:
        return Claim(None, "none: no GPU visible (CUDA_VISIBLE_DEVICES unset and no nvidia-smi)")
    folder = Path(lock_dir or environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR) / socket.gethostname()
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        taken = _take_free_slot(folder, devices, slots)
        if taken is not None:
            device, slot, path, handle = taken
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            environ["CUDA_VISIBLE_DEVICES"] = device
            log.info("claimed GPU %s (slot %d of %d) of %s (%s)", device, slot, slots, ",".join(devices), path)
            return Claim(device, "claimed", str(path), slot=slot, slots=slots, _handle=handle)
        if time.monotonic() >= deadline:
            total = len(devices) * slots
            raise SnnbenchError(
                f"all {total} GPU job slot(s) are claimed by other training jobs ({len(devices)} GPU(s) {devices} × "
                f"train.jobs_per_gpu {slots}; locks under {folder}) and none became free in {wait_s:.0f} s: run at "
                f"most {total} GPU jobs at once (`--resources gpu={total}`, GPUs × train.jobs_per_gpu), or raise "
                "train.jobs_per_gpu to share each GPU among more jobs")
        time.sleep(0.5)
