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


def test_a_write_that_fails_for_want_of_space_names_the_final_file_and_leaves_nothing(tmp_path):
    """Issue 24 (5): a full disk's write error names no file; the error raised names the output
    being written (not its hidden temporary), keeps the errno, and no file is left behind."""
    import errno

    from snnbench.atomic import atomic_write_bytes

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")  # what write() raises on a full disk

    target = tmp_path / "results" / "split0.csv"
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(target, full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 28] No space left on device: '{target}'"
    assert list(target.parent.iterdir()) == []
    (tmp_path / "plain").write_text("a file where a folder should be")
    with pytest.raises(FileExistsError) as caught:  # a folder that cannot be made: the output is named
        atomic_write_bytes(tmp_path / "plain" / "x.json", lambda f: f.write(b"{}"))
    assert caught.value.filename == str(tmp_path / "plain" / "x.json")
