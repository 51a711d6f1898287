"""Readers for the numeric text files of the originals, with errors that name the file and line.

The fast path is pandas' C parser; only when it fails (or the result has a hole) is the file
scanned line by line to find and report the first bad line, so good files cost nothing extra.
Line numbers are 1-based and count header lines, as an editor shows them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from snnbench.errors import DataError


def open_text(path: Path, *, newline: str | None = None) -> io.TextIOBase:
    """A text stream of a plain or ``.gz`` file. ``newline=None``: LF, CRLF and bare CR all end a line
    (use ``newline=""`` for the csv module)."""
    if path.suffix == ".gz":
        import gzip

        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline=newline)
    return open(path, encoding="utf-8", newline=newline)


def _find_bad_line(path: Path, *, sep: str | None, skip: int, ncols: int | None) -> DataError | None:
    """Scan the file and describe its first malformed line (wrong field count or non-number)."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if lineno <= skip:
                continue
            text = line.rstrip("\r\n")
            if text.strip() == "":
                return DataError("empty line", path=path, line=lineno)
            fields = text.split(sep) if sep is not None else text.split()
            if ncols is not None and len(fields) != ncols:
                return DataError(f"{len(fields)} fields, expected {ncols}", path=path, line=lineno)
            ncols = len(fields) if ncols is None else ncols
            for col, field in enumerate(fields, start=1):
                try:
                    value = float(field)
                except ValueError:
                    return DataError(f"field {col} is {field.strip()!r}, not a number", path=path, line=lineno)
                if not np.isfinite(value):
                    return DataError(f"field {col} is {field.strip()!r}, not a finite number", path=path, line=lineno)
    return None


def read_matrix(
    path: str | os.PathLike, *, sep: str | None = ",", skip: int = 0, ncols: int | None = None
) -> np.ndarray:
    """A float64 matrix from a delimited text file (``sep=None``: any whitespace).

    Raises :class:`DataError` naming the first line with a wrong number of fields, an empty or
    non-numeric field, or a non-finite value.
    """
    import pandas as pd

    path = Path(path)
    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+" if sep is None else sep,
            header=None,
            skiprows=skip,
            dtype=np.float64,
            na_filter=False,
            engine="c",
            skip_blank_lines=False,
        )
        values = frame.to_numpy()
        ok = (ncols is None or values.shape[1] == ncols) and np.isfinite(values).all()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        values, ok, first_error = None, False, exc
    else:
        first_error = None
    if ok:
        return values
    bad = _find_bad_line(path, sep=sep, skip=skip, ncols=ncols)
    if bad is not None:
        raise bad
    if first_error is not None:
        raise DataError(f"cannot parse as a numeric table: {first_error}", path=path) from first_error
    raise DataError(f"{values.shape[1]} columns, expected {ncols}", path=path, line=skip + 1)


def read_int_lines(path: str | os.PathLike) -> list[np.ndarray]:
    """One int64 array per line of whitespace-separated integers (lines may differ in length)."""
    path = Path(path)
    out = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            try:
                out.append(np.array(line.split(), dtype=np.int64))
            except ValueError:
                bad = next(tok for tok in line.split() if not tok.lstrip("-").isdigit())
                raise DataError(f"{bad!r} is not an integer index", path=path, line=lineno) from None
    return out


def as_labels(values: np.ndarray, *, path: str | os.PathLike, n_classes: int, first_line: int = 1) -> np.ndarray:
    """Integer class labels in ``0..n_classes-1`` from a float column; the error names the line."""
    values = np.asarray(values, dtype=np.float64).ravel()
    not_int = np.flatnonzero(values != np.round(values))
    if not_int.size:
        i = int(not_int[0])
        raise DataError(f"label {values[i]:g} is not an integer", path=path, line=first_line + i)
    out_of_range = np.flatnonzero((values < 0) | (values >= n_classes))
    if out_of_range.size:
        i = int(out_of_range[0])
        raise DataError(
            f"label {values[i]:g} is out of range 0..{n_classes - 1} ({n_classes} classes per the metadata); "
            f"{out_of_range.size} such rows",
            path=path,
            line=first_line + i,
        )
    return values.astype(np.int64)
