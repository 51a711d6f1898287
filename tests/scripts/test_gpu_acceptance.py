"""benchmarks/gpu_acceptance.py on a machine without CUDA: it refuses when CUDA is asked, finds the
checkout's src/ without PYTHONPATH, and on a CPU writes agreement counts for the sections that
apply there (tiny sizes). Each run is a subprocess started as a user would start it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_acceptance.py"


def run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "acceptance.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script must find src/ itself
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    return done, json.loads(out.read_text()) if out.is_file() else {}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the script would run, not refuse")
def test_cuda_asked_without_cuda_refuses_and_says_why(tmp_path):
    done, results = run(tmp_path, "--device", "cuda")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "torch.cuda.is_available() is False" in results["refused"]
    assert results["ok"] is False and results["sections"] == {}
    assert "refused" in done.stderr


def test_cpu_run_imports_this_checkout_and_writes_agreement_counts(tmp_path):
    done, results = run(tmp_path, "--device", "cpu", "--only", "masks", "equivalence", "divergence", "graphs",
                        "--rows", "300", "--width", "8", "--epochs", "3")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert Path(results["snnbench_from"]) == REPO / "src" / "snnbench"
    verdicts = results["verdicts"]
    assert verdicts["masks"] == "pass" and verdicts["equivalence"] == "pass"
    assert verdicts["graphs"] == "skipped: needs CUDA (--device cpu)"
    families = results["sections"]["equivalence"]["families"]
    assert set(families) == {"SNN", "MSRAinit", "BatchNorm", "WeightNorm", "LayerNorm", "Highway", "ResNet"}
    for family in families.values():
        counts = family["counts"]
        assert counts["members"] > 0 and counts["first_epoch_within_tol"] == counts["members"]
        assert counts["batched"] == counts["members"] and counts["graphs"] == 0  # no CUDA graphs on a CPU
        assert len(family["members_detail"][0]["early_epoch_diffs"]) == 3
    divergence = results["sections"]["divergence"]
    assert divergence["diverged_member"]["status"] == "diverged" and divergence["graph_check"] == "needs CUDA"
    assert all(s["cpu_check_only"] for s in results["sections"].values())


def test_uci_slice_is_skipped_with_the_command_that_prepares_it(tmp_path):
    done, results = run(tmp_path, "--device", "cpu", "--only", "uci", "--prepared-dir", str(tmp_path / "none"))
    assert done.returncode == 1 and results["ok"] is False, done.stderr[-3000:]  # nothing ran: nothing passed
    uci = results["sections"]["uci"]
    assert uci["skipped"].startswith("no prepared card")
    assert "snnbench data prepare uci --dataset abalone" in uci["prepare_with"]
    assert results["verdicts"]["uci"].startswith("skipped")


def test_a_section_that_would_not_fit_the_budget_is_skipped_and_recorded(tmp_path):
    done, results = run(tmp_path, "--device", "cpu", "--only", "masks", "--budget-s", "1")
    assert done.returncode == 1 and results["ok"] is False
    assert results["verdicts"]["masks"].startswith("skipped: would not fit")
    assert "--budget-s 1" in results["verdicts"]["masks"]
