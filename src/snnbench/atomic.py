"""Atomic writers: a file appears under its final name complete or not at all (the ground floor: no project imports)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

# The errors of a file that cannot be written (a full disk, a read-only or unwritable folder), with
# what to do; snnbench.cli names the file and the errno for them, on the console too.
CANNOT_WRITE = {errno.ENOSPC: "free space there, or give results_dir / data_dir on another filesystem",
                errno.EDQUOT: "free space there (a disk quota), or give results_dir / data_dir elsewhere",
                errno.EFBIG: "the file is larger than this system allows there",
                errno.EROFS: "give results_dir / data_dir on a writable filesystem",
                errno.EACCES: "make the folder writable for this user, or give results_dir / data_dir elsewhere",
                errno.EPERM: "make the folder writable for this user, or give results_dir / data_dir elsewhere",
                errno.EIO: "the storage failed"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, write) -> None:
    """``write(f)`` into a hidden temporary file beside ``path``, renamed to ``path`` when complete,
    so a final name never holds a partial file. The file gets the permissions a plain ``open``
    would give it (0666 less the umask: readable by group and others under the usual 022), not
    ``mkstemp``'s private 0600."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise naming(exc, path) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            raise naming(exc, path) from exc
        raise


def naming(exc: OSError, path: Path) -> OSError:
    """``exc`` naming the file being written (a full disk's write names none, a failed temporary
    file names its hidden name), so the message says which output could not be written."""
    return type(exc)(exc.errno, exc.strerror, str(path))


def atomic_write_csv(path: Path, frame) -> None:
    """A DataFrame as a CSV at ``path``, atomically (``atomic_write_bytes``)."""
    atomic_write_bytes(Path(path), lambda f: f.write(frame.to_csv(index=False).encode()))
