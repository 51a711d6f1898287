"""Helpers shared by the test modules (plain functions and constants; the fixtures are in conftest.py).

Importable as ``helpers`` because [tool.pytest.ini_options] puts tests/ on sys.path (``pythonpath``);
no test module imports another test module or conftest.py.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from snnbench.data.sources import ManifestEntry
from snnbench.settings import TrainSettings
from snnbench.training.task import Task, blobs_task

REPO = Path(__file__).resolve().parents[1]


def render_page(browser: str, page: Path, screenshot: Path, *, width: int = 1400, height: int = 2400) -> str:
    """The page as a real browser renders it (scripts run): its DOM after load, and a screenshot."""
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--virtual-time-budget=15000", f"--window-size={width},{height}"]
    shot = subprocess.run([*common, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, text=True,
                          timeout=180)
    assert screenshot.is_file(), shot.stderr[-2000:]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


OVERFLOW_PROBE = """<script>window.addEventListener("load", () => setTimeout(() => {
  const wide = [], root = document.documentElement, report = document.querySelector(".snnbench-report");
  if (root.scrollWidth > root.clientWidth + 1) wide.push("html " + root.scrollWidth + " > " + root.clientWidth);
  for (let e = report && report.parentElement; e; e = e.parentElement)
    if (e.scrollWidth > e.clientWidth + 1)
      wide.push(e.tagName + "." + e.className + " " + e.scrollWidth + " > " + e.clientWidth);
  document.body.setAttribute("data-overflow", report ? (wide.join("; ") || "none") : "no report");
}, 2000));</script>"""


def sideways_overflow(browser: str, page: Path, tmp: Path, *, width: int = 1280) -> str:
    """What scrolls sideways when a real browser shows ``page`` in a window ``width`` pixels wide: the
    page itself and every element around the report ('none' if nothing; tables scrolling inside their
    own box do not count). A copy of the page with a probe script is loaded, beside the original."""
    import re

    probe = page.with_name(f"{page.stem}.probe.html")
    text = page.read_text()
    end = text.rindex("</body>")  # the last: the Snakemake report carries report.html, body and all, in a script
    probe.write_text(text[:end] + OVERFLOW_PROBE + text[end:])
    dom = render_page(browser, probe, tmp / f"{page.stem}_{width}.png", width=width, height=900)
    probe.unlink()
    found = re.search(r'data-overflow="([^"]*)"', dom)
    return found.group(1) if found else "probe did not run"


# --------------------------------------------------------------------------- pipeline runs

def run_snakemake(*args, cwd=REPO, env=None, timeout=None):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


@dataclass
class PipelineRun:
    root: Path            # holds data/ and results/
    config: list[str]     # the --configfile / --config arguments
    result: subprocess.CompletedProcess
    seconds: float
    interrupted: dict | None = None  # what a SIGKILL mid-training left (quick_local_run)

    @property
    def results(self) -> Path:
        return self.root / "results"


def quick_config(root: Path, mirror: Path, *overlays: str) -> list[str]:
    """Arguments running config/quick.yaml (with ``overlays``: config files laid over it) into ``root``."""
    return ["--configfile", "config/quick.yaml", *overlays, "--config", f"data_dir={root}/data",
            f"results_dir={root}/results", f"mirror={mirror}"]


def finished_jobs(log: str) -> list[str]:
    """The rule of every job Snakemake reported finished, in order."""
    return re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log)


def partial_outputs(root: Path) -> list[str]:
    """Files under a final name (not a hidden temporary, not a log) that do not read back whole."""
    bad = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or ".snakemake" in path.parts or "logs" in path.parts:
            continue
        try:
            if path.suffix == ".csv":
                rows = list(csv.reader(path.read_text().splitlines()))
                assert rows and all(len(r) == len(rows[0]) for r in rows), "rows of unequal length"
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.name.endswith(".gz"):
                gzip.decompress(path.read_bytes())
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as arrays:
                    [arrays[k] for k in arrays.files]
            elif path.suffix == ".png":
                assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), "no PNG end chunk"
        except Exception as exc:  # noqa: BLE001 - any failure to read back is the finding
            bad.append(f"{path.relative_to(root)}: {type(exc).__name__} {exc}")
    return bad


# --------------------------------------------------------------------------- synthetic sources

def entry_for(member: str, data: bytes, *, blob_only: bool = False) -> ManifestEntry:
    return ManifestEntry(
        member=member,
        size=None if blob_only else len(data),
        sha256=None if blob_only else hashlib.sha256(data).hexdigest(),
        git_blob_sha1=hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
        note="",
    )


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_verified_source(raw_dir: Path, source: str, files: dict[str, bytes], missing: tuple[str, ...] = ()) -> Path:
    """A source folder as `download_source` leaves it, for tests of the prepare steps."""
    root = raw_dir / source
    members = {}
    for member, data in files.items():
        (root / member).parent.mkdir(parents=True, exist_ok=True)
        (root / member).write_bytes(data)
        members[member] = {"status": "ok", "origin": "test", "sha256": hashlib.sha256(data).hexdigest()}
    for member in missing:
        members[member] = {"status": "missing", "origin": "test", "reason": f"{member} is not in the test archive"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "_verified.json").write_text(json.dumps({"source": source, "members": members}))
    return root


# --------------------------------------------------------------------------- synthetic tasks and training

# The engine tests' settings: 20 epochs on the CPU (one configuration per family: the
# configs_per_family fixture).
FAST = TrainSettings(epochs=20, batch_size=32, highway_width=64, device="cpu")


def blobs(n: int = 240, d: int = 8, classes: int = 3, seed: int = 0) -> Task:
    """Well-separated Gaussian blobs, split 60/20/20."""
    return blobs_task(n, d, classes, seed)


def two_tasks(seed=3):
    """Task A = the blob class; task B its complement with 40 % of the labels missing; task C has
    one training class only."""
    task = blobs(classes=2, seed=seed)
    rng = np.random.default_rng(0)
    y = {}
    for part, v in task.y.items():
        a = v.astype(np.float32)[:, None]
        b = 1 - a.copy()
        b[rng.random(len(a)) < 0.4] = np.nan
        c = np.zeros_like(a) if part == "train" else (rng.random(a.shape) < 0.5).astype(np.float32)
        y[part] = np.hstack([a, b, c])
    return Task(kind="multitask", n_out=3, X=task.X, y=y, info={"tasks": ["A", "B", "C"]})


def installed(spec) -> bool:
    """Whether the packages a method needs (its spec's ``requires``) are installed."""
    return all(importlib.util.find_spec(m) is not None for m in spec.requires)


# --------------------------------------------------------------------------- statistics

# Calibration figures for snnbench plan and snnbench status (no measuring in the tests).
CALIBRATION = {"host_s_per_step": 2e-3, "flops_per_s": 20e9, "job_start_s": 2.0}


def synthetic_accuracies(n: int = 30, *, test_rows: int = 50, seed: int = 0) -> pd.DataFrame:
    """Accuracies that are fractions of ``test_rows``: A one row ahead of B everywhere, B == C
    (identical methods), D well behind."""
    rng = np.random.default_rng(seed)
    correct = rng.integers(20, 45, size=n)
    index = [f"d{i:02d}" for i in range(n)]
    return pd.DataFrame({"A": (correct + 1) / test_rows, "B": correct / test_rows, "C": correct / test_rows,
                         "D": (correct - 10) / test_rows}, index=index)
