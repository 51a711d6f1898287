"""UCI-121: Fernandez-Delgado's files and the SNN authors' ``data_py`` into one prepared dataset each.

Arrays of a prepared UCI dataset (all rows in ``data_py`` order = FD's first file, then its
second file for two-file datasets):

* ``X`` float32 (n, d): the ``data_py`` features (the paper's inputs, already standardised by
  the originals); ``y`` int64 (n,): classes 0..C-1.
* ``test_folds``, ``validation_folds`` bool (n, 4): ``folds_py`` / ``validation_folds_py``.
  The paper's split for column k: test = ``test_folds[:, k]``, validation =
  ``validation_folds[:, k]``, training = the rest; the paper used k = 0.
* ``fd_train``, ``fd_validation`` int64: ``conxuntos.dat`` (0-based rows of FD's first file);
  ``fd_kfold_train_<k>``, ``fd_kfold_test_<k>`` int64 for k = 0..3: ``conxuntos_kfold.dat``.
* ``X_fd`` float32 (n, d), only where FD's own features differ from ``data_py`` (the six
  two-file datasets whose FD test file is not standardised): FD's values as published.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np

from snnbench.benchmarks.uci.sources import DATA_PY, UCI121
from snnbench.data.download import VerifiedSource
from snnbench.data.textio import as_labels, read_int_lines, read_matrix
from snnbench.errors import ConfigError, DataError, UnavailableError
from snnbench.reference import size_group

FD_SOURCE = UCI121.name
PY_SOURCE = DATA_PY.name
N_SPLIT_COLUMNS = 4

# Known quirks of the originals, kept as published (SOURCES.md of the reference mirror).
QUIRKS = {
    "connect-4": "connect-4: FD's script maps 'win' to class 0 together with 'draw' (n_clases=2); kept as published",
    **{
        name: f"{name}: FD's test file is not standardised (as published); data_py's re-standardised test part "
              "is used as X, FD's values are kept as X_fd"
        for name in ("hayes-roth", "hill-valley", "horse-colic", "image-segmentation", "soybean", "spect")
    },
}


@cache
def dataset_names() -> tuple[str, ...]:
    """The 121 dataset names, from the shipped manifest."""
    return tuple(sorted({m.split("/", 1)[0] for m in UCI121.manifest}))


def check_names(names: list[str], *, setting: str = "uci.datasets") -> list[str]:
    """Validate dataset names from the config; the error names the setting and suggests spellings."""
    import difflib

    known = set(dataset_names())
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, known, n=3)
            hints.append(f"{n!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(
            f"unknown UCI dataset(s) in setting `{setting}`: {'; '.join(hints)}. "
            "`snnbench data list uci` prints the 121 valid names."
        )
    return list(names)


def read_metadata(path: Path) -> dict[str, str | int]:
    """``<name>.txt``: lines of ``key= value``."""
    meta: dict[str, str | int] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        m = re.fullmatch(r"\s*(\w+)\s*=\s*(\S+)\s*", line)
        if m is None:
            raise DataError(f"expected 'key= value', got {line!r}", path=path, line=lineno)
        key, value = m.groups()
        meta[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    for key in ("n_entradas", "n_clases", "n_arquivos", "fich1", "n_patrons1"):
        if key not in meta:
            raise DataError(f"metadata key {key!r} is missing", path=path)
    if meta["n_arquivos"] == 2 and not {"fich2", "n_patrons2"} <= meta.keys():
        raise DataError("n_arquivos= 2 but fich2/n_patrons2 are missing", path=path)
    return meta


def _check_rows(path: Path, got: int, expected: int, what: str) -> None:
    if got != expected:
        raise DataError(f"has {got:,} rows, but {what} says {expected:,}", path=path)


def _binary(values: np.ndarray, path: Path) -> np.ndarray:
    bad = np.argwhere((values != 0) & (values != 1))
    if bad.size:
        row, col = bad[0]
        raise DataError(f"column {col + 1} is {values[row, col]:g}; split files hold only 0 and 1", path=path,
                        line=int(row) + 1)
    return values.astype(bool)


def _check_indices(idx: np.ndarray, n: int, path: Path, line: int) -> np.ndarray:
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise DataError(f"index {idx[bad[0]]} is outside 0..{n - 1} (indices are 0-based rows of the first data file)",
                        path=path, line=line)
    if np.unique(idx).size != idx.size:
        raise DataError("an index appears twice", path=path, line=line)
    return idx


def _disjoint(a: np.ndarray, b: np.ndarray, path: Path, what: str) -> None:
    common = np.intersect1d(a, b)
    if common.size:
        raise DataError(f"{what} share {common.size} rows (first: row {common[0]}); they must not overlap", path=path)


def prepare(name: str, raw_dir: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read, cross-check and assemble one UCI dataset. Raises DataError / UnavailableError."""
    check_names([name], setting="dataset")
    fd = VerifiedSource(raw_dir, FD_SOURCE)
    py = VerifiedSource(raw_dir, PY_SOURCE)
    meta_path = fd.path(f"{name}/{name}.txt")
    info = read_metadata(meta_path)
    d, n_classes = int(info["n_entradas"]), int(info["n_clases"])
    files = [str(info["fich1"])] + ([str(info["fich2"])] if info["n_arquivos"] == 2 else [])
    counts = [int(info["n_patrons1"])] + ([int(info["n_patrons2"])] if info["n_arquivos"] == 2 else [])
    n = sum(counts)

    py_members = [f"{name}/{name}_py.dat", f"{name}/labels_py.dat", f"{name}/folds_py.dat",
                  f"{name}/validation_folds_py.dat"]
    fd_members = [f"{name}/{f}" for f in files] + [f"{name}/conxuntos.dat", f"{name}/conxuntos_kfold.dat"]
    missing = []
    for source, members in ((fd, fd_members), (py, py_members)):
        for member in members:
            try:
                source.path(member)
            except UnavailableError as exc:
                missing.append(str(exc))
    if missing:
        raise UnavailableError("; ".join(missing))

    # --- data_py: the paper's features, labels and splits
    x_path, y_path, f_path, v_path = (py.path(m) for m in py_members)
    X = read_matrix(x_path, sep=",", ncols=d)
    _check_rows(x_path, len(X), n, f"{meta_path.name} (n_patrons1 + n_patrons2)")
    labels = read_matrix(y_path, sep=",", ncols=1)
    _check_rows(y_path, len(labels), n, meta_path.name)
    y = as_labels(labels, path=y_path, n_classes=n_classes)
    test_folds = _binary(read_matrix(f_path, sep=",", ncols=N_SPLIT_COLUMNS), f_path)
    _check_rows(f_path, len(test_folds), n, meta_path.name)
    val_folds = _binary(read_matrix(v_path, sep=",", ncols=N_SPLIT_COLUMNS), v_path)
    _check_rows(v_path, len(val_folds), n, meta_path.name)
    for k in range(N_SPLIT_COLUMNS):
        both = np.flatnonzero(test_folds[:, k] & val_folds[:, k])
        if both.size:
            raise DataError(
                f"column {k + 1} marks {both.size} validation rows that {f_path.name} column {k + 1} "
                f"puts in the test set (first at this line)",
                path=v_path,
                line=int(both[0]) + 1,
            )
        if not test_folds[:, k].any() or not val_folds[:, k].any():
            raise DataError(f"split column {k + 1} has an empty test or validation set",
                            path=f_path if not test_folds[:, k].any() else v_path)

    # --- Fernandez-Delgado's files: cross-check features and labels, keep their splits
    fd_parts = []
    for fname, count in zip(files, counts):
        path = fd.path(f"{name}/{fname}")
        table = read_matrix(path, sep="\t", skip=1, ncols=d + 2)
        _check_rows(path, len(table), count, meta_path.name)
        idx_bad = np.flatnonzero(table[:, 0] != np.arange(1, count + 1))
        if idx_bad.size:
            raise DataError(f"row index {table[idx_bad[0], 0]:g}, expected {idx_bad[0] + 1}", path=path,
                            line=int(idx_bad[0]) + 2)
        as_labels(table[:, -1], path=path, n_classes=n_classes, first_line=2)
        fd_parts.append((path, table[:, 1:-1], table[:, -1]))
    offset = 0
    X_fd = np.concatenate([part for _, part, _ in fd_parts])
    for path, _part, classes in fd_parts:
        differ = np.flatnonzero(classes != y[offset : offset + len(classes)])
        if differ.size:
            i = int(differ[0])
            raise DataError(
                f"class {classes[i]:g} at this line, but {y_path.name} line {offset + i + 1} says {y[offset + i]}",
                path=path,
                line=i + 2,
            )
        offset += len(classes)
    notes = [QUIRKS[name]] if name in QUIRKS else []
    arrays: dict[str, np.ndarray] = {}
    close = np.isclose(X_fd, X, rtol=1e-5, atol=1e-6).all(axis=1)
    if not close.all():
        first = int(np.flatnonzero(~close)[0])
        if len(files) == 2 and first >= counts[0]:
            arrays["X_fd"] = X_fd.astype(np.float32)
            if name not in QUIRKS:
                notes.append(f"{name}: FD's test file differs from data_py's test part; FD's values are kept as X_fd")
        else:
            path = fd_parts[0][0]
            raise DataError(
                f"features at this line differ from {x_path.name} line {first + 1}; the two sources disagree",
                path=path,
                line=first + 2,
            )

    c_path, k_path = fd.path(f"{name}/conxuntos.dat"), fd.path(f"{name}/conxuntos_kfold.dat")
    lines = read_int_lines(c_path)
    if len(lines) != 2:
        raise DataError(f"has {len(lines)} lines, expected 2 (training indices, validation indices)", path=c_path)
    fd_train, fd_val = (_check_indices(ix, counts[0], c_path, i + 1) for i, ix in enumerate(lines))
    _disjoint(fd_train, fd_val, c_path, "the training (line 1) and validation (line 2) indices")
    arrays.update(fd_train=fd_train, fd_validation=fd_val)
    lines = read_int_lines(k_path)
    if len(lines) != 2 * N_SPLIT_COLUMNS:
        raise DataError(f"has {len(lines)} lines, expected {2 * N_SPLIT_COLUMNS} (train, test for 4 folds)",
                        path=k_path)
    for k in range(N_SPLIT_COLUMNS):
        tr = _check_indices(lines[2 * k], counts[0], k_path, 2 * k + 1)
        te = _check_indices(lines[2 * k + 1], counts[0], k_path, 2 * k + 2)
        _disjoint(tr, te, k_path, f"fold {k} training (line {2 * k + 1}) and test (line {2 * k + 2}) indices")
        arrays[f"fd_kfold_train_{k}"], arrays[f"fd_kfold_test_{k}"] = tr, te

    arrays.update(X=X.astype(np.float32), y=y, test_folds=test_folds, validation_folds=val_folds)
    meta = {
        "n": n,
        "d": d,
        "classes": n_classes,
        "classes_present": int(np.unique(y).size),
        "size_group": size_group(n),
        "task": "multiclass",
        "feature_set": "fernandez-delgado-standardised",
        "scaling": "none (the originals are standardised)",
        "files": len(files),
        "split_sizes": [
            {"column": k, "training": int((~test_folds[:, k] & ~val_folds[:, k]).sum()),
             "validation": int(val_folds[:, k].sum()), "test": int(test_folds[:, k].sum())}
            for k in range(N_SPLIT_COLUMNS)
        ],
        "split_classes": split_classes(y, test_folds, val_folds),
        "provenance": ([fd.provenance(m) for m in [f"{name}/{name}.txt", *fd_members]]
                       + [py.provenance(m) for m in py_members]),
        "notes": notes,
    }
    return arrays, meta


def split_classes(y: np.ndarray, test_folds: np.ndarray, val_folds: np.ndarray) -> list[dict]:
    """Per split column: the classes of the dataset absent from its training, validation and test
    parts, and ``sound`` (no class absent from any part). Classes are those present in ``y``."""
    classes = np.unique(y)
    out = []
    for k in range(test_folds.shape[1]):
        test, val = test_folds[:, k], val_folds[:, k]
        parts = {"training": ~test & ~val, "validation": val, "test": test}
        missing = {part: [int(c) for c in np.setdiff1d(classes, np.unique(y[rows]))] for part, rows in parts.items()}
        out.append({"column": k, "sound": not any(missing.values()), "missing": missing})
    return out


def paper_split(data, column: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (training, validation, test) of the paper's protocol for ``data_py`` column k."""
    if not 0 <= column < N_SPLIT_COLUMNS:
        raise ValueError(f"split column must be in 0..{N_SPLIT_COLUMNS - 1}, however: {column=}")
    test = data["test_folds"][:, column]
    val = data["validation_folds"][:, column]
    return np.flatnonzero(~test & ~val), np.flatnonzero(val), np.flatnonzero(test)
