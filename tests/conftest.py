"""Shared fixtures: the data mirror (mandatory in CI), pipeline runs, a loopback HTTP server, one
configuration per FNN family. Plain helpers shared by the test modules: helpers.py."""

from __future__ import annotations

import copy
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import REPO, PipelineRun, finished_jobs, partial_outputs, quick_config, run_snakemake


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The reference data mirror from $SNNBENCH_MIRROR.

    Unset: the test is skipped with a message, unless $SNNBENCH_REQUIRE_MIRROR=1 (CI), where it fails.
    """
    value = os.environ.get("SNNBENCH_MIRROR")
    required = os.environ.get("SNNBENCH_REQUIRE_MIRROR") == "1"
    if not value:
        message = ("no data mirror configured: set SNNBENCH_MIRROR to a folder laid out like shared/data to run this "
                   "test")
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


@pytest.fixture(scope="session")
def mirror_raw(mirror, tmp_path_factory) -> Path:
    """Every source downloaded from the mirror once per test session (a raw_dir)."""
    from snnbench.benchmarks import SOURCES
    from snnbench.data.download import download_source

    raw = tmp_path_factory.mktemp("mirror_raw")
    for source in SOURCES.values():
        download_source(source, raw, mirror=mirror)
    return raw


# --------------------------------------------------------------------------- pipeline runs

def training_in_group(pgid: int) -> bool:
    """Whether a `snnbench train` job of the Snakemake run whose process group is ``pgid`` is running
    (not another run's, should several run at once)."""
    ps = subprocess.run(["ps", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
    return any(line.split(None, 1)[0] == str(pgid) and "snnbench train" in line for line in ps.splitlines()
               if line.strip())


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
        if len(list(train.glob("*/*/*/*.json"))) >= min_trained and training_in_group(run.pid):
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


# --------------------------------------------------------------------------- one configuration per family

CONFIGS_PER_FAMILY = {
    "SNN": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "dropout": 0.05, "layer_form": "rectangular"},
    "MSRAinit": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "dropout": 0.5, "layer_form": "conic"},
    "BatchNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "rectangular"},
    "WeightNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "rectangular"},
    "LayerNorm": {"n_hidden": 64, "n_layers": 3, "lr": 0.1, "layer_form": "conic"},
    "Highway": {"n_layers": 3, "lr": 0.1, "dropout": 0.0},
    "ResNet": {"n_blocks": 2, "n_hidden_per_block": 64, "block_form": "diavolo", "bottleneck": 0.5, "lr": 0.1},
}


@pytest.fixture
def configs_per_family() -> dict[str, dict]:
    """One small configuration of each of the paper's FNN families (keyed in the order of
    snnbench.methods.paper.FAMILIES) that learns separable blobs in helpers.FAST's 20 epochs."""
    return copy.deepcopy(CONFIGS_PER_FAMILY)


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
