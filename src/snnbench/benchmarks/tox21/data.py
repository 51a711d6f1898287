"""Tox21: the DeepTox challenge files into one canonical prepared dataset.

Compounds, the official split and the 12 labels come from ``tox21_compoundData.csv`` (rows kept in
file order) and are cross-checked against the DeepTox label files. The inputs ``X`` are one of two
feature sets (setting ``tox21.features``):

* ``deeptox``: the paper's inputs (Klambauer et al. 2017, section "Drug discovery: The Tox21
  challenge dataset" and its appendix, hyperparameter Tables A14-A20), the DeepTox dense
  descriptors plus the DeepTox sparse features that are non-zero in at least
  ``sparse_min_frequency`` of the training compounds.
* ``rdkit``: computed here from ``tox21.sdf.gz``: all RDKit 2D descriptors plus unfolded Morgan
  (ECFP-like) count features, filtered by the same frequency rule. Used when the DeepTox
  training feature files are not available (the reference mirror lacks them).
* ``auto``: ``deeptox`` when both DeepTox training feature files are in the source, else ``rdkit``.

Nothing is standardised here: z-scores are fitted on the training rows at training time.
"""

from __future__ import annotations

import csv
import gzip
import logging
import math
import multiprocessing
import os
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snnbench.benchmarks.tox21.sources import TOX21
from snnbench.data.download import VerifiedSource
from snnbench.data.textio import open_text
from snnbench.errors import ConfigError, DataError, UnavailableError

log = logging.getLogger(__name__)

SOURCE = TOX21.name
TASKS = (
    "NR.AhR", "NR.AR", "NR.AR.LBD", "NR.Aromatase", "NR.ER", "NR.ER.LBD",
    "NR.PPAR.gamma", "SR.ARE", "SR.ATAD5", "SR.HSE", "SR.MMP", "SR.p53",
)
FEATURE_SETS = ("auto", "deeptox", "rdkit")
SPLITS = ("training", "validation", "test")  # code = index: 0, 1, 2

COMPOUNDS = "tox21_compoundData.csv"
LABELS_TRAIN = "tox21_labels_train.csv.gz"
LABELS_TEST = "tox21_labels_test.csv.gz"
SDF = "tox21.sdf.gz"
DENSE_TRAIN = "tox21_dense_train.csv.gz"
DENSE_TEST = "tox21_dense_test.csv.gz"
SPARSE_TRAIN = "tox21_sparse_train.mtx.gz"
SPARSE_TEST = "tox21_sparse_test.mtx.gz"
SPARSE_COLNAMES = "tox21_sparse_colnames.txt.gz"
SPARSE_ROWNAMES_TRAIN = "tox21_sparse_rownames_train.txt.gz"
SPARSE_ROWNAMES_TEST = "tox21_sparse_rownames_test.txt.gz"
DEEPTOX_TRAIN_FILES = (DENSE_TRAIN, SPARSE_TRAIN)
DEEPTOX_FILES = (DENSE_TRAIN, DENSE_TEST, SPARSE_TRAIN, SPARSE_TEST, SPARSE_COLNAMES,
                 SPARSE_ROWNAMES_TRAIN, SPARSE_ROWNAMES_TEST)

COMPOUND_HEADER = ("ID", "inchikey", "sdftitle", "order", "set", "CVfold", *TASKS)
LABEL_CODES = {"0": 0, "1": 1, "NA": -1}
# A computed descriptor with |x| above this is treated as missing (see _impute_descriptors).
DESCRIPTOR_ABS_LIMIT = 1e10
SCALING = "zscore-fit-on-training-rows (applied at training time)"


# --------------------------------------------------------------------------- settings

def _check_settings(features: str, sparse_min_frequency: float, ecfp_radius: int, n_jobs: int) -> None:
    if features not in FEATURE_SETS:
        raise ConfigError(f"tox21.features is {features!r}; allowed values: {', '.join(FEATURE_SETS)}")
    if not isinstance(sparse_min_frequency, (int, float)) or not 0.0 <= float(sparse_min_frequency) <= 1.0:
        raise ConfigError(f"tox21.sparse_min_frequency is {sparse_min_frequency!r}; it must be a number in [0, 1]")
    if isinstance(ecfp_radius, bool) or not isinstance(ecfp_radius, int) or ecfp_radius < 0:
        raise ConfigError(f"tox21.ecfp_radius is {ecfp_radius!r}; it must be an integer >= 0")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs is {n_jobs!r}; it must be an integer >= 1")


def resolve_feature_set(src: VerifiedSource, requested: str) -> str:
    """``auto`` -> ``deeptox`` when both DeepTox training feature files verified, else ``rdkit``."""
    if requested != "auto":
        return requested
    return "deeptox" if all(src.has(m) for m in DEEPTOX_TRAIN_FILES) else "rdkit"


# --------------------------------------------------------------------------- text helpers

def _csv_rows(path: Path):
    """Yield (line number, fields) for each row of a CSV file; blank rows are errors."""
    with open_text(path, newline="") as f:
        reader = csv.reader(f)
        for fields in reader:
            if not fields or fields == [""]:
                raise DataError("empty line", path=path, line=reader.line_num)
            yield reader.line_num, fields


def _read_names(path: Path) -> list[str]:
    with open_text(path, newline="") as f:
        names = [line.rstrip("\r\n") for line in f]
    while names and names[-1] == "":
        names.pop()
    for lineno, name in enumerate(names, start=1):
        if name.strip() == "":
            raise DataError("empty name", path=path, line=lineno)
    return names


def _label(value: str, *, task: str, path: Path, line: int) -> int:
    try:
        return LABEL_CODES[value.strip()]
    except KeyError:
        raise DataError(f"label {value!r} for {task} is not 0, 1 or NA", path=path, line=line) from None


# --------------------------------------------------------------------------- compounds and labels

@dataclass
class Compounds:
    ids: list[str]
    sdftitles: list[str]
    lines: list[int]          # line of each row in tox21_compoundData.csv
    split: np.ndarray         # int8, 0/1/2
    cv_fold: np.ndarray       # int8, -1 for NA
    Y: np.ndarray             # int8 (n, 12), -1 for NA


def read_compounds(path: Path) -> Compounds:
    """Parse ``tox21_compoundData.csv``; every malformed row is a DataError with its line."""
    rows = _csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataError("empty file", path=path, line=1) from None
    if tuple(h.strip() for h in header) != COMPOUND_HEADER:
        raise DataError(f"header is {header!r}; expected {list(COMPOUND_HEADER)!r}", path=path, line=1)
    ids, titles, lines, split, folds, labels = [], [], [], [], [], []
    seen: dict[str, int] = {}
    for lineno, fields in rows:
        if len(fields) != len(COMPOUND_HEADER):
            raise DataError(f"{len(fields)} columns, expected {len(COMPOUND_HEADER)}", path=path, line=lineno)
        cid, _inchikey, title, _order, set_name, fold = (f.strip() for f in fields[:6])
        if cid == "":
            raise DataError("empty ID", path=path, line=lineno)
        if cid in seen:
            raise DataError(f"ID {cid!r} repeats line {seen[cid]}", path=path, line=lineno)
        seen[cid] = lineno
        if set_name not in SPLITS:
            raise DataError(f"set is {set_name!r}; expected one of {', '.join(SPLITS)}", path=path, line=lineno)
        if fold == "NA":
            fold_value = -1
        else:
            try:
                fold_value = int(fold)
            except ValueError:
                raise DataError(f"CVfold is {fold!r}; expected an integer or NA", path=path, line=lineno) from None
            if not 0 <= fold_value <= 127:
                raise DataError(f"CVfold is {fold!r}; expected 0..127 or NA", path=path, line=lineno)
        ids.append(cid)
        titles.append(title)
        lines.append(lineno)
        split.append(SPLITS.index(set_name))
        folds.append(fold_value)
        labels.append([_label(v, task=t, path=path, line=lineno) for t, v in zip(TASKS, fields[6:])])
    if not ids:
        raise DataError("no compounds after the header", path=path, line=2)
    return Compounds(
        ids=ids,
        sdftitles=titles,
        lines=lines,
        split=np.array(split, dtype=np.int8),
        cv_fold=np.array(folds, dtype=np.int8),
        Y=np.array(labels, dtype=np.int8).reshape(len(ids), len(TASKS)),
    )


def check_label_file(path: Path, comp: Compounds, rows: np.ndarray, compounds_path: Path) -> None:
    """The DeepTox label file must list exactly the compounds ``rows`` of compoundData, in order, same labels."""
    reader = _csv_rows(path)
    try:
        _, header = next(reader)
    except StopIteration:
        raise DataError("empty file", path=path, line=1) from None
    if tuple(h.strip() for h in header[1:]) != TASKS:
        raise DataError(f"header is {header!r}; expected an id column then {list(TASKS)!r}", path=path, line=1)
    k = 0
    last = 1
    for lineno, fields in reader:
        last = lineno
        if len(fields) != 1 + len(TASKS):
            raise DataError(f"{len(fields)} columns, expected {1 + len(TASKS)}", path=path, line=lineno)
        if k >= len(rows):
            raise DataError(
                f"more rows than the {len(rows)} matching compounds of {compounds_path.name}", path=path, line=lineno
            )
        i = int(rows[k])
        cid = fields[0].strip()
        if cid != comp.ids[i]:
            raise DataError(
                f"compound {cid!r}, but {compounds_path.name} line {comp.lines[i]} has {comp.ids[i]!r} "
                f"at this position (compound {k + 1} of this file)",
                path=path, line=lineno,
            )
        for j, (task, value) in enumerate(zip(TASKS, fields[1:])):
            got = _label(value, task=task, path=path, line=lineno)
            if got != comp.Y[i, j]:
                want = {1: "1", 0: "0", -1: "NA"}[int(comp.Y[i, j])]
                raise DataError(
                    f"{cid} {task} is {value.strip()!r} here but {want!r} in {compounds_path.name} "
                    f"line {comp.lines[i]}",
                    path=path, line=lineno,
                )
        k += 1
    if k != len(rows):
        raise DataError(
            f"ends after {k} compounds; {compounds_path.name} has {len(rows)} for this file", path=path, line=last
        )


# --------------------------------------------------------------------------- deeptox features

@dataclass
class Features:
    X: np.ndarray                 # float32 (n, d), compoundData row order
    names: list[str]
    files: list[str]              # source members read
    params: dict[str, Any]        # -> meta["feature_params"]
    extra_meta: dict[str, Any]    # further card entries (imputation, parse failures)
    notes: list[str]


def _require_deeptox(src: VerifiedSource) -> dict[str, Path]:
    missing = [m for m in DEEPTOX_FILES if src.status(m) == "missing"]
    if missing:
        raise UnavailableError(
            f"the DeepTox feature files {', '.join(missing)} are missing from the {SOURCE} source "
            f"({src.root}); the paper's feature set cannot be built. Set tox21.features to 'rdkit' "
            "(or 'auto') to use RDKit features computed from tox21.sdf.gz instead"
        )
    return {m: src.path(m) for m in DEEPTOX_FILES}  # .path raises DataError for a checksum mismatch


def _read_dense(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(row ids, column names, float64 values) of a DeepTox dense descriptor file."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, index_col=0, dtype={0: str}, keep_default_na=True)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot parse as a descriptor table: {exc}", path=path) from exc
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        col = bad[0]
        values = pd.to_numeric(frame[col], errors="coerce")
        row = int(np.flatnonzero(values.isna() & frame[col].notna())[0])
        raise DataError(
            f"column {col!r} holds {frame[col].iloc[row]!r}, not a number", path=path, line=row + 2
        )
    return [str(i) for i in frame.index], [str(c) for c in frame.columns], frame.to_numpy(dtype=np.float64)


def _read_sparse(path: Path, n_rows: int, n_cols: int):
    import scipy.io
    import scipy.sparse

    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            matrix = scipy.io.mmread(f)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"cannot read as a MatrixMarket matrix: {exc}", path=path) from exc
    matrix = scipy.sparse.csr_matrix(matrix)
    if matrix.shape != (n_rows, n_cols):
        raise DataError(
            f"matrix is {matrix.shape[0]} x {matrix.shape[1]}; its row and column name files say {n_rows} x {n_cols}",
            path=path,
        )
    return matrix


def _row_index(ids: list[str], path: Path) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, cid in enumerate(ids):
        if cid in index:
            raise DataError(f"compound {cid!r} appears twice (rows {index[cid] + 1} and {i + 1})", path=path)
        index[cid] = i
    return index


def _match_rows(comp: Compounds, rows: np.ndarray, index: dict[str, int], path: Path,
                compounds_path: Path) -> np.ndarray:
    out = np.empty(len(rows), dtype=np.int64)
    for k, i in enumerate(rows):
        cid = comp.ids[int(i)]
        if cid not in index:
            raise DataError(
                f"no row for compound {cid!r} ({compounds_path.name} line {comp.lines[int(i)]}, "
                f"set {SPLITS[comp.split[int(i)]]})",
                path=path,
            )
        out[k] = index[cid]
    return out


def _impute_training_median(X: np.ndarray, train: np.ndarray, invalid: np.ndarray) -> np.ndarray:
    """Replace the entries flagged ``invalid`` by their column's median over valid training entries (0 if none)."""
    X = X.copy()
    for j in np.flatnonzero(invalid.any(axis=0)):
        ok = train & ~invalid[:, j]
        X[invalid[:, j], j] = float(np.median(X[ok, j])) if ok.any() else 0.0
    return X


def _frequent_columns(counts: np.ndarray, n_train: int, min_frequency: float) -> np.ndarray:
    """Columns non-zero in >= ``min_frequency`` of the training compounds (and in at least one).

    NOTE: the denominator is the ``set == training`` compounds only, so the validation (leaderboard)
    and test structures never decide which columns exist; the paper states a frequency threshold
    but not over which compounds it was counted.
    """
    return np.flatnonzero((counts > 0) & (counts >= min_frequency * n_train - 1e-9))


def deeptox_features(
    src: VerifiedSource, comp: Compounds, compounds_path: Path, *, sparse_min_frequency: float
) -> Features:
    """The paper's inputs: DeepTox dense descriptors + frequent DeepTox sparse features."""
    paths = _require_deeptox(src)
    train_rows = np.flatnonzero(comp.split != 2)
    test_rows = np.flatnonzero(comp.split == 2)
    n = len(comp.ids)

    ids_tr, names_tr, dense_tr = _read_dense(paths[DENSE_TRAIN])
    ids_te, names_te, dense_te = _read_dense(paths[DENSE_TEST])
    if names_te != names_tr:
        j = next((j for j, (a, b) in enumerate(zip(names_tr, names_te)) if a != b), min(len(names_tr), len(names_te)))
        raise DataError(
            f"descriptor columns differ from {DENSE_TRAIN} ({len(names_te)} vs {len(names_tr)} columns; "
            f"column {j + 2} is {(names_te + [None])[j]!r} here, {(names_tr + [None])[j]!r} there)",
            path=paths[DENSE_TEST], line=1,
        )
    dense = np.empty((n, len(names_tr)), dtype=np.float64)
    dense[train_rows] = dense_tr[_match_rows(comp, train_rows, _row_index(ids_tr, paths[DENSE_TRAIN]),
                                             paths[DENSE_TRAIN], compounds_path)]
    dense[test_rows] = dense_te[_match_rows(comp, test_rows, _row_index(ids_te, paths[DENSE_TEST]),
                                            paths[DENSE_TEST], compounds_path)]

    colnames = _read_names(paths[SPARSE_COLNAMES])
    rows_tr = _read_names(paths[SPARSE_ROWNAMES_TRAIN])
    rows_te = _read_names(paths[SPARSE_ROWNAMES_TEST])
    sp_tr = _read_sparse(paths[SPARSE_TRAIN], len(rows_tr), len(colnames))
    sp_te = _read_sparse(paths[SPARSE_TEST], len(rows_te), len(colnames))
    import scipy.sparse

    sparse = scipy.sparse.vstack([
        sp_tr[_match_rows(comp, train_rows, _row_index(rows_tr, paths[SPARSE_ROWNAMES_TRAIN]),
                          paths[SPARSE_ROWNAMES_TRAIN], compounds_path)],
        sp_te[_match_rows(comp, test_rows, _row_index(rows_te, paths[SPARSE_ROWNAMES_TEST]),
                          paths[SPARSE_ROWNAMES_TEST], compounds_path)],
    ]).tocsr()
    order = np.empty(n, dtype=np.int64)
    order[np.concatenate([train_rows, test_rows])] = np.arange(n)
    sparse = sparse[order]  # back to compoundData row order

    training = comp.split == 0
    counts = np.asarray((sparse[np.flatnonzero(training)] != 0).sum(axis=0)).ravel()
    keep = _frequent_columns(counts, int(training.sum()), sparse_min_frequency)

    # NOTE: the paper does not say how missing DeepTox descriptors were handled; we use the
    # training-row median, as for the rdkit set (the mirror's test file has none).
    invalid = ~np.isfinite(dense)
    n_imputed = int(invalid.sum())
    dense = _impute_training_median(dense, training, invalid)
    X = np.hstack([dense, sparse[:, keep].toarray().astype(np.float64)]).astype(np.float32)
    names = [f"dense:{c}" for c in names_tr] + [f"sparse:{colnames[j]}" for j in keep]
    constant = int((np.ptp(X[training], axis=0) == 0).sum()) if training.any() else 0

    notes = [
        f"deeptox features: {len(names_tr)} dense descriptors + {len(keep)} of {len(colnames)} sparse features "
        f"(non-zero in >= {sparse_min_frequency:g} of the {int(training.sum())} training compounds)",
        f"deeptox dense values that were NaN/inf and replaced by the training-row column median: {n_imputed}",
        f"{constant} columns are constant on the training rows (kept as the paper's inputs; "
        "zero variance at z-scoring)",
    ]
    params = {"dense_features": len(names_tr), "sparse_features_total": len(colnames),
              "sparse_features_kept": int(len(keep))}
    return Features(X, names, list(DEEPTOX_FILES), params, {"imputed_values": {"total": n_imputed}}, notes)


# --------------------------------------------------------------------------- rdkit features

@dataclass
class SdfRecord:
    title: str
    line: int       # line of the title in the (decompressed) SDF
    molblock: str   # header, counts and atom/bond block up to and including "M  END"


def read_sdf_records(path: Path) -> list[SdfRecord]:
    """Split an SDF into records without parsing chemistry (so a bad molecule keeps its title)."""
    records: list[SdfRecord] = []
    block: list[str] = []
    start = 1
    in_data = False
    with open_text(path, newline="") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if line == "$$$$":
                if not block:
                    raise DataError("empty record", path=path, line=lineno)
                records.append(SdfRecord(title=block[0].strip(), line=start, molblock="\n".join(block) + "\n"))
                block, start, in_data = [], lineno + 1, False
                continue
            if not in_data:
                block.append(line)
                if line.startswith("M  END"):
                    in_data = True
    if any(s.strip() for s in block):
        raise DataError("last record does not end with $$$$", path=path, line=start)
    return records


def _quiet_rdkit() -> None:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    warnings.filterwarnings("ignore")


def _worker_init() -> None:
    """A featurisation worker: RDKit quiet, BLAS on one thread (see ``featurise_all``)."""
    from threadpoolctl import threadpool_limits

    _quiet_rdkit()
    threadpool_limits(1)


def _parse_molblock(molblock: str):
    """(mol, status): ``ok``, ``partial`` (needed sanitize=False + partial sanitisation) or ``failed``."""
    from rdkit import Chem

    try:
        mol = Chem.MolFromMolBlock(molblock, sanitize=True, removeHs=True)
    except Exception:
        mol = None
    if mol is not None:
        return mol, "ok"
    # NOTE: ours: a structure RDKit rejects (mostly valence rules on metal complexes) is read
    # unsanitised and sanitised except for the valence check, so it still gets features.
    try:
        mol = Chem.MolFromMolBlock(molblock, sanitize=False, removeHs=False, strictParsing=False)
        if mol is None:
            return None, "failed"
        mol.UpdatePropertyCache(strict=False)
        ops = Chem.SanitizeFlags.SANITIZE_ALL ^ Chem.SanitizeFlags.SANITIZE_PROPERTIES
        Chem.SanitizeMol(mol, ops, catchErrors=True)
        try:
            mol = Chem.RemoveHs(mol, sanitize=False)
        except Exception:
            pass
        Chem.GetSymmSSSR(mol)  # ring information, needed by the fingerprint and many descriptors
        return mol, "partial"
    except Exception:
        return None, "failed"


def featurise_one(task: tuple[str, int]) -> tuple[str, list[float], dict[int, int]]:
    """(parse status, descriptor values, Morgan environment counts) of one molblock."""
    from rdkit.Chem import Descriptors, rdFingerprintGenerator

    molblock, radius = task
    mol, status = _parse_molblock(molblock)
    if mol is None:
        return status, [math.nan] * len(Descriptors.descList), {}
    values = []
    for _name, fn in Descriptors.descList:
        try:
            values.append(float(fn(mol)))
        except Exception:
            values.append(math.nan)
    # NOTE: RDKit Morgan environments stand in for the DeepTox ECFP features (computed by other
    # software); the hash ids are not comparable with the DeepTox ``ecfp...`` column names.
    try:
        generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius)
        counts = {int(k): int(v) for k, v in generator.GetSparseCountFingerprint(mol).GetNonzeroElements().items()}
    except Exception:
        counts = {}
    return status, values, counts


def featurise_all(molblocks: list[str], radius: int, n_jobs: int) -> list[tuple[str, list[float], dict[int, int]]]:
    from threadpoolctl import threadpool_limits

    tasks = [(m, radius) for m in molblocks]
    # NOTE: BLAS runs on one thread, whatever n_jobs and OMP_NUM_THREADS (Snakemake sets it to
    # the job's threads): RDKit's Ipc / AvgIpc take numpy matrix products of the adjacency
    # matrix, whose large coefficients made AvgIpc differ by up to 3.7e-4 on 4 molecules between
    # 1 and 2 BLAS threads, and so the features and every Tox21 result after them.
    if n_jobs == 1 or len(tasks) < 2:
        _quiet_rdkit()
        with threadpool_limits(1):
            return [featurise_one(t) for t in tasks]
    # "spawn": no fork of a possibly multi-threaded parent; imap keeps results in row order.
    ctx = multiprocessing.get_context("spawn")
    chunk = max(1, min(128, len(tasks) // (n_jobs * 8)))
    with ctx.Pool(processes=n_jobs, initializer=_worker_init) as pool:
        return list(pool.imap(featurise_one, tasks, chunksize=chunk))


def _match_structures(comp: Compounds, records: list[SdfRecord], sdf_path: Path, compounds_path: Path) -> list[int]:
    by_title: dict[str, int] = {}
    for k, rec in enumerate(records):
        if rec.title in by_title:
            raise DataError(
                f"title {rec.title!r} repeats the record at line {records[by_title[rec.title]].line}",
                path=sdf_path, line=rec.line,
            )
        by_title[rec.title] = k
    out = []
    for i, (cid, title) in enumerate(zip(comp.ids, comp.sdftitles)):
        k = by_title.get(title, by_title.get(cid))
        if k is None:
            raise DataError(
                f"no structure titled {title!r} or {cid!r} for the compound of {compounds_path.name} "
                f"line {comp.lines[i]}",
                path=sdf_path,
            )
        out.append(k)
    return out


def _impute_descriptors(D: np.ndarray, train: np.ndarray,
                        failed: np.ndarray) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """Replace NaN/inf and |x| > DESCRIPTOR_ABS_LIMIT by the column's training-row median of the valid values.

    NOTE: the rule for absurd values is ours (the paper used DeepTox descriptors): a handful of RDKit
    descriptors (Ipc above all) explode combinatorially on large molecules; values beyond 1e10 are
    numerically meaningless next to the rest of the column and would dominate its z-scores.
    """
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(D) | (np.abs(D) > DESCRIPTOR_ABS_LIMIT)
    return _impute_training_median(D, train, invalid), {
        "total": int(invalid.sum()),
        "in_unparseable_molecules": int(invalid[failed].sum()),
    }, invalid


def rdkit_features(
    src: VerifiedSource, comp: Compounds, compounds_path: Path, *,
    sparse_min_frequency: float, ecfp_radius: int, n_jobs: int,
) -> Features:
    """RDKit 2D descriptors + frequent unfolded Morgan counts, computed from the SDF.

    NOTE: deviation from the paper, which used the DeepTox descriptors and sparse features; those
    are not available for the training compounds here, so comparable inputs are computed with RDKit.
    """
    import rdkit
    from rdkit.Chem import Descriptors

    sdf_path = src.path(SDF)
    records = read_sdf_records(sdf_path)
    order = _match_structures(comp, records, sdf_path, compounds_path)
    started = time.perf_counter()
    results = featurise_all([records[k].molblock for k in order], ecfp_radius, n_jobs)
    seconds = time.perf_counter() - started
    log.info("tox21: featurised %d structures with RDKit in %.1f s (n_jobs=%d)", len(results), seconds, n_jobs)

    status = np.array([r[0] for r in results])
    failed = status == "failed"
    training = comp.split == 0

    desc_names = [name for name, _ in Descriptors.descList]
    D = np.array([r[1] for r in results], dtype=np.float64).reshape(len(results), len(desc_names))
    D, imputed, invalid = _impute_descriptors(D, training, failed)
    per_column = invalid[~failed].sum(axis=0)
    imputed["by_column"] = {desc_names[j]: int(per_column[j]) for j in np.flatnonzero(per_column)}
    D32 = D.astype(np.float32)
    # NOTE: ours: columns constant on the training rows carry nothing and cannot be z-scored.
    varying = np.flatnonzero(np.ptp(D32[training], axis=0) > 0) if training.any() else np.arange(0)
    kept_desc = set(varying.tolist())
    dropped_constant = [name for j, name in enumerate(desc_names) if j not in kept_desc]

    counts = Counter()
    for r, is_train in zip(results, training):
        if is_train:
            counts.update(r[2].keys())
    env_ids = np.array(sorted(counts), dtype=np.uint64)
    train_counts = np.array([counts[int(e)] for e in env_ids], dtype=np.int64)
    kept_ids = env_ids[_frequent_columns(train_counts, int(training.sum()), sparse_min_frequency)]
    column = {int(e): j for j, e in enumerate(kept_ids)}
    E = np.zeros((len(results), len(kept_ids)), dtype=np.float32)
    for i, r in enumerate(results):
        for env, c in r[2].items():
            j = column.get(env)
            if j is not None:
                E[i, j] = c
    ecfp_varying = np.flatnonzero(np.ptp(E[training], axis=0) > 0) if training.any() else np.arange(0)

    X = np.hstack([D32[:, varying], E[:, ecfp_varying]])
    names = [f"desc:{desc_names[j]}" for j in varying] + [f"ecfp:{int(kept_ids[j])}" for j in ecfp_varying]

    partial_ids = [comp.ids[i] for i in np.flatnonzero(status == "partial")]
    failed_ids = [comp.ids[i] for i in np.flatnonzero(failed)]
    params = {
        "descriptors": "rdkit.Chem.Descriptors.descList",
        "descriptors_total": len(desc_names),
        "descriptors_kept": int(len(varying)),
        "descriptors_dropped_constant_on_training": dropped_constant,
        "descriptor_abs_limit": DESCRIPTOR_ABS_LIMIT,
        "ecfp": "RDKit Morgan unfolded counts (default connectivity invariants, no chirality), id = environment hash",
        "ecfp_environments_on_training": int(len(env_ids)),
        "ecfp_kept": int(len(ecfp_varying)),
        "rdkit_version": rdkit.__version__,
    }
    extra = {
        "imputed_values": imputed,
        "rdkit_parse": {
            "partially_sanitised": {"count": len(partial_ids), "ids": partial_ids},
            "unparseable": {"count": len(failed_ids), "ids": failed_ids},
        },
    }
    notes = [
        f"rdkit feature set computed with RDKit {rdkit.__version__}: "
        f"{len(varying)} of {len(desc_names)} 2D descriptors "
        f"(the others constant on the training rows) + {len(ecfp_varying)} Morgan radius-{ecfp_radius} count features "
        f"(of {len(env_ids)} environments seen on training rows; kept when present in >= {sparse_min_frequency:g} "
        f"of the {int(training.sum())} training compounds and not constant there)",
        f"{len(partial_ids)} structures needed sanitize=False + partial sanitisation: {partial_ids}",
        f"{len(failed_ids)} structures could not be read by RDKit (descriptors imputed, Morgan counts 0): {failed_ids}",
        f"descriptor values imputed with the training-row column median (NaN/inf or |x| > {DESCRIPTOR_ABS_LIMIT:g}): "
        f"{imputed['total']} in all, {imputed['in_unparseable_molecules']} of them in unparseable molecules; "
        f"per column among parsed molecules: {imputed['by_column']}",
        f"structures matched by SDF title = compoundData sdftitle (ID as fallback); "
        f"{len(records) - len(set(order))} SDF records not in compoundData",
    ]
    return Features(X, names, [SDF], params, extra, notes)


# --------------------------------------------------------------------------- meta helpers

def _label_counts(Y: np.ndarray) -> dict[str, dict[str, int]]:
    return {
        task: {"positives": int((Y[:, j] == 1).sum()), "negatives": int((Y[:, j] == 0).sum()),
               "missing": int((Y[:, j] == -1).sum())}
        for j, task in enumerate(TASKS)
    }


def _split_notes(comp: Compounds) -> list[str]:
    """What the CVfold column says about the validation set, measured, not assumed."""
    validation = comp.split == 1
    fold5 = comp.cv_fold == 5
    if np.array_equal(validation, fold5):
        return ["validation set == the compounds with CVfold 5 (exactly)"]
    return [
        "validation set != CVfold 5: "
        f"{int((validation & fold5).sum())} of {int(validation.sum())} validation compounds have CVfold 5, "
        f"{int((validation & ~fold5).sum())} validation compounds have CVfold "
        f"{sorted({int(v) for v in comp.cv_fold[validation & ~fold5]})} (-1 = NA), "
        f"{int((~validation & fold5).sum())} non-validation compounds have CVfold 5; "
        f"training CVfold values {sorted({int(v) for v in comp.cv_fold[comp.split == 0]})}, "
        f"test CVfold values {sorted({int(v) for v in comp.cv_fold[comp.split == 2]})}. "
        "The split used is the file's `set` column."
    ]


# --------------------------------------------------------------------------- entry point

def prepare(
    raw_dir: str | os.PathLike,
    *,
    features: str = "auto",
    sparse_min_frequency: float = 0.05,
    ecfp_radius: int = 2,
    n_jobs: int = 1,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The Tox21 arrays and card metadata from the verified ``tox21`` source under ``raw_dir``."""
    _check_settings(features, sparse_min_frequency, ecfp_radius, n_jobs)
    src = VerifiedSource(raw_dir, SOURCE)
    compounds_path = src.path(COMPOUNDS)
    comp = read_compounds(compounds_path)
    read = [COMPOUNDS]
    notes: list[str] = []

    for member, rows in ((LABELS_TRAIN, np.flatnonzero(comp.split != 2)),
                         (LABELS_TEST, np.flatnonzero(comp.split == 2))):
        if src.status(member) == "missing":
            notes.append(f"{member} is missing from the source: labels not cross-checked against it")
            continue
        check_label_file(src.path(member), comp, rows, compounds_path)
        read.append(member)
        notes.append(f"{member} agrees with {COMPOUNDS} (same ids in order, same labels)")

    resolved = resolve_feature_set(src, features)
    if features == "auto":
        mismatched = [m for m in DEEPTOX_TRAIN_FILES if src.status(m) == "mismatch"]
        if mismatched:
            log.warning("tox21: %s failed verification; using the rdkit feature set", ", ".join(mismatched))
            notes.append(f"{', '.join(mismatched)} failed checksum verification, so auto chose rdkit")
        notes.append(f"tox21.features auto resolved to {resolved!r}")
    if resolved == "deeptox":
        feats = deeptox_features(src, comp, compounds_path, sparse_min_frequency=sparse_min_frequency)
    else:
        feats = rdkit_features(
            src, comp, compounds_path,
            sparse_min_frequency=sparse_min_frequency, ecfp_radius=ecfp_radius, n_jobs=n_jobs,
        )
    X, names = feats.X, feats.names
    read += feats.files
    notes += feats.notes + _split_notes(comp)
    if not np.isfinite(X).all():  # an invariant of both feature sets, checked, never assumed
        raise DataError(f"{int((~np.isfinite(X)).sum())} non-finite feature values remain after imputation",
                        path=src.root)

    feature_params: dict[str, Any] = {"sparse_min_frequency": float(sparse_min_frequency),
                                      "frequency_rows": "training (set == training only)"}
    if resolved == "rdkit":
        feature_params["ecfp_radius"] = ecfp_radius
    feature_params.update(feats.params)

    arrays = {
        "X": np.ascontiguousarray(X, dtype=np.float32),
        "Y": comp.Y,
        "split": comp.split,
        "cv_fold": comp.cv_fold,
        "ids": np.array(comp.ids, dtype=str),
        "feature_names": np.array(names, dtype=str),
        "tasks": np.array(TASKS, dtype=str),
    }
    meta = {
        "n": int(X.shape[0]),
        "d": int(X.shape[1]),
        "classes": 2,
        "tasks": len(TASKS),
        "task_names": list(TASKS),
        "size_group": None,
        "task": "multitask-binary",
        "feature_set": resolved,
        "feature_set_requested": features,
        "split_counts": {name: int((comp.split == code).sum()) for code, name in enumerate(SPLITS)},
        "label_counts": _label_counts(comp.Y),
        "scaling": SCALING,
        "provenance": [src.provenance(m) for m in read],
        "notes": notes,
        "feature_params": feature_params,
        **feats.extra_meta,
    }
    return arrays, meta
