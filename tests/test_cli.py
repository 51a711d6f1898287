"""The command line (snnbench.cli): a file that cannot be written is named with its errno, on
the console a workflow job keeps open (fd $SNNBENCH_CONSOLE_FD) as well as in the job's log."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import REPO


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux), where every write is ENOSPC")
@pytest.mark.parametrize("benchmark", ["htru2", "uci"])  # one line; 121 lines
def test_output_that_cannot_be_written_is_named_on_the_console(benchmark):
    """Issue 24 (5): a job's log on a full disk (here /dev/full) kept nothing, and the console
    said nothing. The console (fd 3, as the rules' shell prefix opens it) names the log and the
    errno, once, and the command fails (its report could not be written)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SNNBENCH_CONSOLE_FD": "3"}
    run = subprocess.run(f"exec 3>&2; {sys.executable} -m snnbench data list {benchmark} > /dev/full 2>&1",
                         shell=True, capture_output=True, text=True, env=env)
    assert (run.returncode, run.stderr) == (2, "snnbench: error: /dev/full (this command's output): [Errno 28] No "
                                               "space left on device; free space there, or give results_dir / "
                                               "data_dir on another filesystem\n")
