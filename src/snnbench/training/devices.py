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

``train.gpus: auto`` (the default) is 1 where GPUs are visible and 0 where none are (or where
``train.device`` is ``cpu``); ``train.device: auto`` is the GPU the job claimed (or SLURM
assigned), else the CPU. ``device_problem`` names the contradictions between the two settings,
for the workflow (before any job starts) and for ``snnbench train`` alike.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from snnbench.errors import ConfigError, SnnbenchError

log = logging.getLogger(__name__)

LOCK_DIR_ENV = "SNNBENCH_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = ".snakemake/gpu-locks"
MPS_PIPE_ENV = "CUDA_MPS_PIPE_DIRECTORY"
DEFAULT_MPS_PIPE_DIR = "/tmp/nvidia-mps"
MPS_CONTROL = "nvidia-cuda-mps-control"
# README's commands ("Several training jobs per GPU"), repeated where MPS is missing
MPS_START = ("export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log; "
             "nvidia-cuda-mps-control -d")
MPS_STOP = "echo quit | nvidia-cuda-mps-control"
NO_GPU_VISIBLE = "no GPU visible (CUDA_VISIBLE_DEVICES unset and no nvidia-smi)"


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


@dataclass(frozen=True)
class GpuChoice:
    """``train.gpus`` resolved: ``gpus`` the GPUs a training job claims (0 or 1), ``setting`` the
    value as given (``auto``, 0 or 1), ``why`` how ``auto`` resolved ('' for a number),
    ``devices`` the GPUs visible when ``auto`` looked (empty for a number)."""

    gpus: int
    setting: int | str
    why: str = ""
    devices: tuple[str, ...] = ()

    def said(self, name: str = "train.gpus") -> str:
        """The setting as a message names it: ``train.gpus is 1`` or ``train.gpus is auto (1: ...)``."""
        return f"{name} is {self.setting}" + (f" ({self.gpus}: {self.why})" if self.why else "")


def resolve_gpus(gpus: int | str, *, device: str = "auto", environ: dict | None = None,
                 name: str = "train.gpus") -> GpuChoice:
    """``train.gpus`` (``auto``, 0 or 1) as the number of GPUs a training job claims: ``auto`` is
    1 where GPUs are visible (``visible_gpus``), 0 where none are or where ``device`` is ``cpu``."""
    if gpus == "auto":
        if device == "cpu":
            return GpuChoice(0, "auto", "train.device is cpu")
        devices = tuple(visible_gpus(environ))
        if devices:
            return GpuChoice(1, "auto", f"GPU(s) {list(devices)} visible", devices)
        return GpuChoice(0, "auto", NO_GPU_VISIBLE)
    if isinstance(gpus, bool) or gpus not in (0, 1):
        raise ConfigError(f"{name} is {gpus!r}: it must be auto, 0 or 1 (the GPUs one training job uses; auto: 1 "
                          "where GPUs are visible, else 0)")
    return GpuChoice(int(gpus), int(gpus))


def _set(name: str, value: str) -> str:
    """How to set a setting: ``train.gpus: 0`` in the config, ``--gpus 0`` on a command line."""
    return f"{name} {value}" if name.startswith("--") else f"{name}: {value}"


def device_problem(device: str, gpus: int | GpuChoice, *,
                   names: tuple[str, str] = ("train.device", "train.gpus")) -> str | None:
    """Why ``device`` (``train.device``) contradicts ``gpus`` (``train.gpus``, resolved) so that
    no training job could do what the two say, or None. ``names``: the two settings as the caller
    took them (the config's keys, or ``--device`` and ``--gpus``)."""
    choice = gpus if isinstance(gpus, GpuChoice) else GpuChoice(gpus, gpus)
    device_name, gpus_name = names
    given = f"{device_name} is {device} but {choice.said(gpus_name)}"
    restrict = ("to train on some GPUs only, set CUDA_VISIBLE_DEVICES for the whole run (e.g. "
                "`CUDA_VISIBLE_DEVICES=1,2 snakemake ...`): the jobs then claim among those")
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if choice.gpus == 1 and match and match.group(1) and int(match.group(1)) >= 1:
        return (f"{given}: a training job sees only the GPU it claimed (or SLURM assigned), as cuda:0, because the "
                f"claim sets CUDA_VISIBLE_DEVICES to that one device, so {device} does not exist in the job and it "
                f"would fail with 'invalid device ordinal'; set {_set(device_name, 'auto')} or "
                f"{_set(device_name, 'cuda')} (the claimed GPU); {restrict}")
    if choice.gpus == 1 and device == "cpu":
        return (f"{given}: every training job would hold a GPU job slot and train on the CPU; set "
                f"{_set(gpus_name, '0')} (or auto) to train on the CPU, or {_set(device_name, 'auto')} to train on "
                "the claimed GPU")
    if choice.gpus == 0 and match:
        if choice.setting == "auto":
            return (f"{given}: set {_set(device_name, 'auto')} or {_set(device_name, 'cpu')} to train on the CPU, "
                    "or run where a GPU is visible")
        return (f"{given}: the training jobs would claim no GPU and all train on {device} of this machine, however "
                f"many run at once; set {_set(gpus_name, '1')} (or auto) so that each job claims a GPU job slot "
                f"(the workflow: run with `--resources gpu=GPUs × train.jobs_per_gpu`), or "
                f"{_set(device_name, 'cpu')}; {restrict}")
    return None


def job_device(device: str, claim: "Claim", *, cuda_available: bool) -> tuple[str, str]:
    """The device a training job trains on, and a warning ('' if none): ``device`` unless it is
    ``auto``, which is ``cuda`` (the claimed or SLURM-assigned GPU) when the job has a GPU and
    torch can use CUDA, else ``cpu``."""
    if device != "auto":
        return device, ""
    if claim.how == "claimed" or (claim.how.startswith("scheduler") and claim.device is not None):
        if cuda_available:
            return "cuda", ""
        return "cpu", (f"train.device is auto and this job has GPU {claim.device} ({claim.how}), but torch sees no "
                       "usable CUDA device (a CPU-only torch, or no driver): it trains on the CPU")
    if claim.how.startswith("scheduler") and cuda_available:  # SLURM gave a GPU without naming it
        return "cuda", ""
    return "cpu", ""


def mps_status(environ: dict | None = None, *, proc: str | os.PathLike = "/proc") -> dict:
    """Whether an NVIDIA MPS control daemon is running for this environment, as README starts it:
    its pipe directory is ``CUDA_MPS_PIPE_DIRECTORY`` (default ``/tmp/nvidia-mps``) and a running
    daemon has the FIFO ``control`` there. ``running``: that FIFO exists; ``pipe_dir``; ``how``:
    what was found, including whether a ``nvidia-cuda-mps-control`` process shows in ``proc``
    (informative only: the daemon may run in another PID namespace)."""
    environ = os.environ if environ is None else environ
    pipe_dir = environ.get(MPS_PIPE_ENV) or DEFAULT_MPS_PIPE_DIR
    control = Path(pipe_dir) / "control"
    try:
        mode = control.stat().st_mode
    except OSError:
        mode = None
    pids = _processes_named(MPS_CONTROL, Path(proc))
    seen = (f"{MPS_CONTROL} process {', '.join(pids)}" if pids
            else f"no {MPS_CONTROL} process in {proc}")
    if mode is not None and stat.S_ISFIFO(mode):
        how = f"control FIFO {control}; {seen}" + ("" if pids else " (another PID namespace, or a stale FIFO)")
        return {"running": True, "pipe_dir": str(pipe_dir), "how": how}
    found = "is not a FIFO" if mode is not None else "does not exist"
    return {"running": False, "pipe_dir": str(pipe_dir), "how": f"{control} {found}; {seen}"}


def _processes_named(name: str, proc: Path) -> list[str]:
    pids = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return pids
    for entry in entries:
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name[:15]:  # comm holds 15 characters at most
                    pids.append(entry.name)
            except OSError:
                continue
    return pids


def run_start_line(choice: GpuChoice, *, jobs_per_gpu: int, environ: dict | None = None) -> str | None:
    """The line the workflow prints at its start where training jobs claim GPUs on this machine
    (not under SLURM): the GPU job slots and MPS, with how to start MPS where jobs share a GPU
    without it; or, where GPUs are visible but train.gpus is 0 (or train.device cpu), that the
    jobs train on the CPU. None where there is nothing to say."""
    environ = os.environ if environ is None else environ
    _check_slots(jobs_per_gpu)
    if "SLURM_JOB_ID" in environ:
        return None
    devices = list(choice.devices) or visible_gpus(environ)
    if not devices:
        return None
    if choice.gpus == 0:
        use = "train.device: auto" if choice.setting == "auto" else "train.gpus: 1 or auto"
        return (f"snnbench: GPU(s) {devices} visible but {choice.said()}, so the training jobs run on the CPU; set "
                f"{use} to use the GPUs")
    slots = len(devices) * jobs_per_gpu
    line = (f"snnbench: {len(devices)} GPU(s) {devices} × train.jobs_per_gpu {jobs_per_gpu} = {slots} GPU job "
            "slot(s); ")
    mps = mps_status(environ)
    if mps["running"]:
        return line + f"MPS running (pipe directory {mps['pipe_dir']})"
    line += f"MPS not running (no control FIFO in {mps['pipe_dir']})"
    if jobs_per_gpu > 1:
        line += (f": the {jobs_per_gpu} jobs on each GPU are time-sliced (one process's kernels at a time); to run "
                 f"their kernels at once, start MPS before the run, in the shell that runs snakemake and with "
                 f"CUDA_VISIBLE_DEVICES unset: `{MPS_START}`, and stop it after: `{MPS_STOP}` (README: several "
                 "training jobs per GPU)")
    return line


def _check_slots(slots: int) -> None:
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ConfigError(f"train.jobs_per_gpu is {slots!r}: it must be an integer of at least 1 "
                          "(the training jobs that share one GPU; 1: a GPU per job)")


def gpu_resource_problem(given: int | None, *, jobs_per_gpu: int, environ: dict | None = None,
                         gpus: GpuChoice | None = None) -> str | None:
    """Why Snakemake's ``--resources gpu=<given>`` does not fit this machine's GPU job slots
    (visible GPUs × ``jobs_per_gpu``), for the workflow to stop on before any job starts; None
    when it fits, under SLURM, or where no GPU is visible (training jobs then claim nothing).
    ``gpus``: train.gpus as resolved (the message names it; default an explicit 1).

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
    said = (gpus or GpuChoice(1, 1)).said()
    have = (f"this machine has {len(devices)} GPU(s) {devices} × train.jobs_per_gpu {jobs_per_gpu} = {slots} GPU "
            f"job slot(s)")
    if given is None:
        return (f"{said} and {have}, but Snakemake was not given the `gpu` resource: run with "
                f"`--resources gpu={slots}` (GPUs × train.jobs_per_gpu), or set `train.gpus: 0` to train on the "
                "CPU instead; without it every core starts a training job and those beyond the slots fail after "
                "waiting 10 minutes for one")
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
        return Claim(None, f"none: {NO_GPU_VISIBLE}")
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
