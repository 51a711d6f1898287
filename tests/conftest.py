"""Shared fixtures: the data mirror (mandatory in CI), pipeline runs, a loopback HTTP server, synthetic sources."""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from snnbench.data.sources import ManifestEntry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The reference data mirror from $SNNBENCH_MIRROR.

    Unset: the test is skipped with a message, unless $SNNBENCH_REQUIRE_MIRROR=1 (CI), where it fails.
    """
    value = os.environ.get("SNNBENCH_MIRROR")
    required = os.environ.get("SNNBENCH_REQUIRE_MIRROR") == "1"
    if not value:
        message = "no data mirror configured: set SNNBENCH_MIRROR to a folder laid out like shared/data to run this test"
        if required:
            pytest.fail(message + " (SNNBENCH_REQUIRE_MIRROR=1 makes it mandatory)")
        pytest.skip(message)
    path = Path(value)
    if not (path / "uci121.tar.gz").is_file() and not (path / "data.tar.gz").is_file():
        pytest.fail(f"SNNBENCH_MIRROR={value} does not look like the data mirror (no uci121.tar.gz or data.tar.gz)")
    return path


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="session")
def browser() -> str:
    """A headless Chromium on PATH. Missing: skipped with a message, unless
    $SNNBENCH_REQUIRE_BROWSER=1 (CI, whose .ci/run installs chromium-headless-shell), where it fails."""
    import shutil

    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    message = "no headless Chromium on PATH (apt-get install chromium-headless-shell) for the report's browser check"
    if os.environ.get("SNNBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (SNNBENCH_REQUIRE_BROWSER=1 makes it mandatory)")
    pytest.skip(message)


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


@pytest.fixture(scope="session")
def mirror_raw(mirror, tmp_path_factory) -> Path:
    """Every source downloaded from the mirror once per test session (a raw_dir)."""
    from snnbench.data.download import download_source
    from snnbench.benchmarks import SOURCES

    raw = tmp_path_factory.mktemp("mirror_raw")
    for source in SOURCES.values():
        download_source(source, raw, mirror=mirror)
    return raw


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
                import numpy as np

                with np.load(path, allow_pickle=False) as arrays:
                    [arrays[k] for k in arrays.files]
            elif path.suffix == ".png":
                assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), "no PNG end chunk"
        except Exception as exc:  # noqa: BLE001 - any failure to read back is the finding
            bad.append(f"{path.relative_to(root)}: {type(exc).__name__} {exc}")
    return bad


def run_killed_mid_training(config: list[str], root: Path, *, min_trained: int = 12) -> dict:
    """Run the pipeline and SIGKILL Snakemake and all its jobs once ``min_trained`` training jobs
    have finished and another is training; returns what the kill left behind."""
    plan = run_snakemake("-n", *config)
    total = int(re.search(r"^total\s+(\d+)", plan.stdout, re.M).group(1))
    log_path = root / "killed.log"
    train = root / "results" / "train"
    with open(log_path, "w") as log:
        run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", *config], cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and run.poll() is None:
        if len(list(train.glob("*/*/*/*.json"))) >= min_trained and "snnbench train" in subprocess.run(
                ["ps", "-eo", "args"], capture_output=True, text=True).stdout:
            break
        time.sleep(0.2)
    still_running = run.poll() is None
    if still_running:
        os.killpg(run.pid, signal.SIGKILL)  # Snakemake and every job it started, no clean-up
    run.wait()
    log = log_path.read_text()
    return {"total": total, "finished": finished_jobs(log), "killed": still_running, "log": log,
            "trained": {p: p.stat().st_mtime_ns for p in train.glob("*/*/*/*.json")},
            "partial": partial_outputs(root / "results") + partial_outputs(root / "data")}


@pytest.fixture(scope="session")
def quick_local_run(mirror, tmp_path_factory) -> PipelineRun:
    """The quick config run once per test session on this machine (2 cores), shared by the tests
    that check its outputs and those that compare another run with it. It is killed with SIGKILL
    in the middle of training and finished with --rerun-incomplete (issue 7): the outputs the
    tests check are those of the resumed run."""
    root = tmp_path_factory.mktemp("quick_local")
    config = quick_config(root, mirror)
    start = time.perf_counter()
    interrupted = run_killed_mid_training(config, root)
    # a killed Snakemake leaves its lock: --unlock first, as its message says, then the same command
    unlock = run_snakemake("--unlock", *config)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    result = run_snakemake("--cores", "2", "--rerun-incomplete", *config)
    return PipelineRun(root, config, result, time.perf_counter() - start, interrupted)


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


# --------------------------------------------------------------------------- loopback HTTP server

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        responses = self.routes.get(self.path, [(404, b"not found", {})])
        status, body, headers = responses[min(self.hits[self.path], len(responses)) - 1]
        headers = {"Content-Length": str(len(body)), **headers}
        delay = float(headers.pop("X-Test-Delay", 0))
        drop_after = headers.pop("X-Test-Drop-After", None)
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if drop_after is not None:
                self.wfile.write(body[: int(drop_after)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A server on 127.0.0.1: ``server.route(path, (status, body, headers), ...)``; ``server.hits``.

    Several responses for one path are served in turn (the last one repeats). Two pseudo-headers
    inject faults and are not sent: ``X-Test-Delay: seconds`` waits before answering (a
    timeout), ``X-Test-Drop-After: n`` announces the whole body but closes the connection after
    n bytes (a connection dropped midway).
    """
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    class Server:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        hits = handler.hits

        @staticmethod
        def route(path, *responses):
            handler.routes[path] = list(responses)

    yield Server
    httpd.shutdown()
    httpd.server_close()
