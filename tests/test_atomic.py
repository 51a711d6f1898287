"""Files written atomically (snnbench.atomic) end with the permissions the umask gives."""

from __future__ import annotations

import os

import pytest


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    """Results, tables and prepared files are renamed from private temporary files; they must end
    with the permissions a plain open() gives (colleagues on a shared cluster read them)."""
    import pandas as pd

    from snnbench.atomic import atomic_write_bytes
    from snnbench.evaluation.stats import write_statistics

    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.json", lambda f: f.write(b"{}"))
        write_statistics(pd.DataFrame({"x": [1]}), tmp_path / "stats.csv")
    finally:
        os.umask(old)
    for name in ("a.json", "stats.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
