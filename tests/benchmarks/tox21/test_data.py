"""Tox21 preparation: synthetic source folders for the logic, the real mirror for the numbers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from snnbench.benchmarks import SOURCES
from snnbench.benchmarks.tox21 import data as tox21
from snnbench.errors import ConfigError, DataError, UnavailableError


@dataclass
class Cpd:
    id: str
    smiles: str | None  # None: a record RDKit cannot read at all
    set: str
    fold: str
    labels: tuple[str, ...]
    title: str | None = None  # SDF title / sdftitle; defaults to the id

    @property
    def sdftitle(self) -> str:
        return self.title or self.id


def _labels(*values: str) -> tuple[str, ...]:
    return tuple(values) + ("NA",) * (12 - len(values))


# Four training compounds without aromatic rings; only validation and test have benzene rings, and
# only one training compound has a nitrogen. With sparse_min_frequency=0.25, the benzene
# environments (0/4 training, 3/7 overall) must be dropped and the amine ones (1/4 training,
# 1/7 overall) kept: a threshold computed on all rows would do the opposite.
BASE = [
    Cpd("T1-01", "CCO", "training", "0", _labels("0", "1", "NA", "0")),
    Cpd("T2-01", "CCCO", "training", "NA", _labels("1", "0", "0", "NA")),
    Cpd("T3-01", "CCCC", "training", "1", _labels("NA", "NA", "1", "1")),
    Cpd("T4-01", "CCN", "training", "2", _labels("0", "0", "0", "0")),
    Cpd("V1-01", "c1ccccc1O", "validation", "5", _labels("1", "NA", "0", "0"), title="V1"),
    Cpd("E1-01", "c1ccccc1", "test", "NA", _labels("0", "1", "1", "NA")),
    Cpd("E2-01", "c1ccccc1Cl", "test", "3", _labels("NA", "0", "0", "1")),
]


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def _molblock(c: Cpd) -> str:
    if c.smiles is None:
        return f"{c.sdftitle}\n  garbage\n\nthis is not a molfile\nM  END\n"
    mol = Chem.MolFromSmiles(c.smiles, sanitize=False)
    mol.UpdatePropertyCache(strict=False)
    mol.SetProp("_Name", c.sdftitle)
    return Chem.MolToMolBlock(mol, kekulize=False)


def _sdf(cpds: list[Cpd]) -> bytes:
    return _gz("".join(_molblock(c) + "> <Formula>\nX\n\n$$$$\n" for c in cpds))


def _compound_csv(cpds: list[Cpd]) -> bytes:
    head = ",".join(f'"{h}"' for h in tox21.COMPOUND_HEADER)
    rows = [
        f'"{c.id}","KEY{i}","{c.sdftitle}",{i},"{c.set}",{c.fold},' + ",".join(c.labels)
        for i, c in enumerate(cpds)
    ]
    return ("\n".join([head, *rows]) + "\n").encode()


def _label_csv(cpds: list[Cpd]) -> bytes:
    head = '"",' + ",".join(f'"{t}"' for t in tox21.TASKS)
    return _gz("\n".join([head, *(f'"{c.id}",' + ",".join(c.labels) for c in cpds)]) + "\n")


DENSE_NAMES = ("AW", "Chi0", "nHet")
SPARSE_NAMES = ("ecfp2:11", "ecfp2:22", "ecfp2:33", "tox:44")


def _dense_value(cid: str, j: int) -> float:
    return float(int(hashlib.sha256(cid.encode()).hexdigest()[:6], 16) % 1000) / 10 + j


def _sparse_row(c: Cpd) -> list[int]:
    """Columns 0: every compound; 1: only the first training compound; 2: only validation/test; 3: none."""
    cols = [0]
    if c.id == "T1-01":
        cols.append(1)
    if c.set != "training":
        cols.append(2)
    return cols


def _deeptox_files(cpds: list[Cpd]) -> dict[str, bytes]:
    train = [c for c in cpds if c.set != "test"][::-1]  # reversed: rows are matched by id, not position
    test = [c for c in cpds if c.set == "test"]
    files = {}
    for part, rows in (("train", train), ("test", test)):
        head = '"",' + ",".join(f'"{n}"' for n in DENSE_NAMES)
        body = [f'"{c.id}",' + ",".join(f"{_dense_value(c.id, j):g}" for j in range(len(DENSE_NAMES))) for c in rows]
        files[f"tox21_dense_{part}.csv.gz"] = _gz("\n".join([head, *body]) + "\n")
        m = scipy.sparse.lil_matrix((len(rows), len(SPARSE_NAMES)), dtype=np.int64)
        for i, c in enumerate(rows):
            for j in _sparse_row(c):
                m[i, j] = 1 + j
        buf = io.BytesIO()
        scipy.io.mmwrite(buf, m.tocoo())
        files[f"tox21_sparse_{part}.mtx.gz"] = gzip.compress(buf.getvalue())
        files[f"tox21_sparse_rownames_{part}.txt.gz"] = _gz("".join(c.id + "\n" for c in rows))
    files["tox21_sparse_colnames.txt.gz"] = _gz("".join(n + "\n" for n in SPARSE_NAMES))
    return files


def make_source(
    raw_dir: Path,
    cpds: list[Cpd] = BASE,
    *,
    deeptox: bool = False,
    drop: tuple[str, ...] = (),
    replace: dict[str, bytes] | None = None,
) -> Path:
    """A tox21 source folder as ``download_source`` leaves it: the files plus an honest ``_verified.json``.

    Members not written (``drop``, or the DeepTox files when ``deeptox`` is false) are recorded as
    missing; the checksums of the written ones are those of the synthetic bytes.
    """
    files = {
        "tox21_compoundData.csv": _compound_csv(cpds),
        "tox21.sdf.gz": _sdf(cpds),
        "tox21_labels_train.csv.gz": _label_csv([c for c in cpds if c.set != "test"]),
        "tox21_labels_test.csv.gz": _label_csv([c for c in cpds if c.set == "test"]),
    }
    if deeptox:
        files.update(_deeptox_files(cpds))
    files.update(replace or {})
    root = raw_dir / "tox21"
    root.mkdir(parents=True)
    members = {}
    for member in SOURCES["tox21"].manifest:
        if member in files and member not in drop:
            (root / member).write_bytes(files[member])
            members[member] = {"status": "ok", "origin": "synthetic test fixture",
                               "sha256": hashlib.sha256(files[member]).hexdigest()}
        else:
            members[member] = {"status": "missing", "origin": "synthetic test fixture",
                               "reason": f"{member} is not in the synthetic test fixture"}
    (root / "_verified.json").write_text(json.dumps({"source": "tox21", "members": members}))
    return raw_dir


def _env_ids(smiles: str, radius: int = 2) -> set[int]:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius)
    return set(gen.GetSparseCountFingerprint(Chem.MolFromSmiles(smiles)).GetNonzeroElements())


# --------------------------------------------------------------------------- rdkit path

def test_rdkit_shapes_splits_and_labels(tmp_path):
    arrays, meta = tox21.prepare(make_source(tmp_path), features="rdkit")
    n, d = arrays["X"].shape
    assert n == len(BASE) and d == meta["d"] == len(arrays["feature_names"]) > 0
    assert arrays["X"].dtype == np.float32 and np.isfinite(arrays["X"]).all()
    assert arrays["Y"].dtype == np.int8 and arrays["Y"].shape == (n, 12)
    assert arrays["split"].dtype == np.int8 and arrays["split"].tolist() == [0, 0, 0, 0, 1, 2, 2]
    assert arrays["cv_fold"].dtype == np.int8 and arrays["cv_fold"].tolist() == [0, -1, 1, 2, 5, -1, 3]
    assert arrays["ids"].tolist() == [c.id for c in BASE]
    assert arrays["tasks"].tolist() == list(tox21.TASKS)
    assert arrays["Y"][0, :4].tolist() == [0, 1, -1, 0] and (arrays["Y"][:, 4:] == -1).all()
    assert arrays["Y"][2, :4].tolist() == [-1, -1, 1, 1]
    names = arrays["feature_names"].tolist()
    assert all(x.startswith(("desc:", "ecfp:")) for x in names) and any(x.startswith("ecfp:") for x in names)
    ecfp = arrays["X"][:, [i for i, x in enumerate(names) if x.startswith("ecfp:")]]
    assert (ecfp == np.round(ecfp)).all() and ecfp.max() > 1  # raw counts, not standardised
    assert meta["feature_set"] == "rdkit" and meta["feature_set_requested"] == "rdkit"
    assert meta["split_counts"] == {"training": 4, "validation": 1, "test": 2}
    assert meta["label_counts"]["NR.AhR"] == {"positives": 2, "negatives": 3, "missing": 2}
    assert meta["classes"] == 2 and meta["tasks"] == 12 and meta["size_group"] is None
    assert meta["task"] == "multitask-binary" and meta["scaling"].startswith("zscore-fit-on-training-rows")
    assert {p["member"] for p in meta["provenance"]} == {
        "tox21/tox21_compoundData.csv", "tox21/tox21_labels_train.csv.gz",
        "tox21/tox21_labels_test.csv.gz", "tox21/tox21.sdf.gz",
    }
    assert meta["feature_params"]["ecfp_radius"] == 2 and meta["feature_params"]["sparse_min_frequency"] == 0.05
    assert any("validation set == the compounds with CVfold 5" in s for s in meta["notes"])
    json.dumps(meta)  # the card must be JSON-able


def test_frequency_threshold_uses_training_rows_only(tmp_path):
    arrays, meta = tox21.prepare(make_source(tmp_path), features="rdkit", sparse_min_frequency=0.25)
    kept = {int(x.split(":")[1]) for x in arrays["feature_names"] if x.startswith("ecfp:")}
    aliphatic = set().union(*(_env_ids(s) for s in ("CCO", "CCCO", "CCCC")))
    amine_only = _env_ids("CCN") - aliphatic
    aromatic_only = _env_ids("c1ccccc1") - aliphatic
    assert amine_only and aromatic_only
    assert amine_only <= kept  # 1 of 4 training compounds (but only 1 of 7 rows)
    assert not (aromatic_only & kept)  # 0 of 4 training compounds (but 3 of 7 rows)


def test_parallel_featurisation_is_identical(tmp_path):
    raw = make_source(tmp_path)
    one, _ = tox21.prepare(raw, features="rdkit", n_jobs=1)
    two, _ = tox21.prepare(raw, features="rdkit", n_jobs=2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_unreadable_structures_are_recorded_and_imputed(tmp_path):
    cpds = [
        *BASE[:4],
        Cpd("B1-01", None, "training", "0", _labels("0")),
        Cpd("B2-01", "CC(C)(C)(C)(C)C", "training", "0", _labels("1")),  # pentavalent carbon
        *BASE[4:],
    ]
    arrays, meta = tox21.prepare(make_source(tmp_path, cpds), features="rdkit")
    assert np.isfinite(arrays["X"]).all()
    assert meta["rdkit_parse"]["unparseable"] == {"count": 1, "ids": ["B1-01"]}
    assert meta["rdkit_parse"]["partially_sanitised"]["ids"] == ["B2-01"]
    ecfp = [i for i, x in enumerate(arrays["feature_names"]) if x.startswith("ecfp:")]
    assert (arrays["X"][4, ecfp] == 0).all()
    assert meta["imputed_values"]["in_unparseable_molecules"] > 0


def test_structure_missing_from_sdf(tmp_path):
    sdf = _sdf([c for c in BASE if c.id != "T3-01"])
    raw = make_source(tmp_path, replace={"tox21.sdf.gz": sdf})
    with pytest.raises(DataError, match="T3-01") as err:
        tox21.prepare(raw, features="rdkit")
    assert err.value.path.endswith("tox21.sdf.gz")


# --------------------------------------------------------------------------- deeptox path and auto

def test_auto_uses_deeptox_when_its_training_files_are_present(tmp_path):
    arrays, meta = tox21.prepare(make_source(tmp_path, deeptox=True), sparse_min_frequency=0.25)
    assert meta["feature_set"] == "deeptox" and meta["feature_set_requested"] == "auto"
    names = arrays["feature_names"].tolist()
    # sparse: column 0 (all), column 1 (1 of 4 training) kept; column 2 (validation/test only) and 3 (none) dropped
    assert names == [f"dense:{n}" for n in DENSE_NAMES] + ["sparse:ecfp2:11", "sparse:ecfp2:22"]
    X = arrays["X"]
    for i, c in enumerate(BASE):  # rows matched by id although the train files are in reverse order
        np.testing.assert_allclose(X[i, :3], [_dense_value(c.id, j) for j in range(3)], rtol=1e-6)
        assert X[i, 3] == 1 and X[i, 4] == (2 if c.id == "T1-01" else 0)
    assert {p["member"] for p in meta["provenance"]} >= {"tox21/tox21_dense_train.csv.gz",
                                                         "tox21/tox21_sparse_test.mtx.gz"}
    assert "ecfp_radius" not in meta["feature_params"]


def test_auto_uses_rdkit_without_deeptox_training_files(tmp_path):
    raw = make_source(tmp_path, deeptox=True, drop=tox21.DEEPTOX_TRAIN_FILES)
    _, meta = tox21.prepare(raw)
    assert meta["feature_set"] == "rdkit" and meta["feature_set_requested"] == "auto"
    assert not any(p["member"].startswith("tox21/tox21_dense") for p in meta["provenance"])


def test_explicit_deeptox_without_training_files_is_unavailable(tmp_path):
    raw = make_source(tmp_path, deeptox=True, drop=tox21.DEEPTOX_TRAIN_FILES)
    with pytest.raises(UnavailableError) as err:
        tox21.prepare(raw, features="deeptox")
    message = str(err.value)
    assert "tox21_dense_train.csv.gz" in message and "tox21_sparse_train.mtx.gz" in message
    assert "tox21.features" in message and "rdkit" in message


def test_deeptox_row_missing_names_the_file(tmp_path):
    rows = [c for c in BASE if c.set == "test"][:1]
    head = '"",' + ",".join(f'"{n}"' for n in DENSE_NAMES)
    dense = _gz("\n".join([head, *(f'"{c.id}",1,2,3' for c in rows)]) + "\n")
    raw = make_source(tmp_path, deeptox=True, replace={"tox21_dense_test.csv.gz": dense})
    with pytest.raises(DataError, match="E2-01") as err:
        tox21.prepare(raw, features="deeptox")
    assert err.value.path.endswith("tox21_dense_test.csv.gz")


# --------------------------------------------------------------------------- label checks and errors

def test_label_disagreement_names_file_and_line(tmp_path):
    changed = [Cpd(c.id, c.smiles, c.set, c.fold, c.labels) for c in BASE if c.set != "test"]
    changed[2].labels = _labels("NA", "NA", "0", "1")  # compoundData says NR.AR.LBD = 1
    raw = make_source(tmp_path, replace={"tox21_labels_train.csv.gz": _label_csv(changed)})
    with pytest.raises(DataError, match="NR.AR.LBD") as err:
        tox21.prepare(raw, features="rdkit")
    assert err.value.path.endswith("tox21_labels_train.csv.gz") and err.value.line == 4


def test_label_id_order_disagreement(tmp_path):
    test_rows = [c for c in BASE if c.set == "test"][::-1]
    raw = make_source(tmp_path, replace={"tox21_labels_test.csv.gz": _label_csv(test_rows)})
    with pytest.raises(DataError, match="E2-01") as err:
        tox21.prepare(raw, features="rdkit")
    assert err.value.path.endswith("tox21_labels_test.csv.gz") and err.value.line == 2


def test_missing_label_files_skip_the_cross_check(tmp_path):
    raw = make_source(tmp_path, drop=("tox21_labels_train.csv.gz", "tox21_labels_test.csv.gz"))
    _, meta = tox21.prepare(raw, features="rdkit")
    assert any("tox21_labels_train.csv.gz is missing" in s for s in meta["notes"])


@pytest.mark.parametrize(
    ("line_no", "edit", "match"),
    [
        (3, lambda f: f[:6] + ["2"] + f[7:], "label '2' for NR.AhR"),
        (4, lambda f: f[:4] + ['"leaderboard"'] + f[5:], "set is 'leaderboard'"),
        (5, lambda f: f[:-1], "17 columns, expected 18"),
        (6, lambda f: f[:5] + ["x"] + f[6:], "CVfold is 'x'"),
    ],
)
def test_malformed_compound_rows(tmp_path, line_no, edit, match):
    lines = _compound_csv(BASE).decode().splitlines()
    lines[line_no - 1] = ",".join(edit(lines[line_no - 1].split(",")))
    raw = make_source(tmp_path, replace={"tox21_compoundData.csv": ("\n".join(lines) + "\n").encode()})
    with pytest.raises(DataError, match=match) as err:
        tox21.prepare(raw, features="rdkit")
    assert err.value.path.endswith("tox21_compoundData.csv") and err.value.line == line_no


def test_unknown_feature_set(tmp_path):
    with pytest.raises(ConfigError, match="tox21.features") as err:
        tox21.prepare(tmp_path, features="morgan")
    assert "'morgan'" in str(err.value) and all(f in str(err.value) for f in tox21.FEATURE_SETS)


# --------------------------------------------------------------------------- the real data

@pytest.mark.mirror
@pytest.mark.slow
def test_real_mirror(quick_local_run):
    """The real Tox21 as the pipeline prepared it from the mirror (the session's quick run)."""
    from snnbench.contracts.prepared import PreparedDataset

    prepared = PreparedDataset.load(quick_local_run.root / "data" / "prepared" / "tox21" / "tox21.json")
    arrays, meta = prepared.arrays, prepared.meta
    assert meta["n"] == 12707 == arrays["X"].shape[0]
    assert meta["split_counts"] == {"training": 11764, "validation": 296, "test": 647}
    assert np.bincount(arrays["split"]).tolist() == [11764, 296, 647]
    assert meta["tasks"] == 12 and arrays["Y"].shape == (12707, 12)
    assert meta["feature_set"] == "rdkit"
    assert np.isfinite(arrays["X"]).all()
    assert meta["d"] == arrays["X"].shape[1] == len(arrays["feature_names"])


def test_featurisation_runs_blas_on_one_thread_whatever_the_environment(monkeypatch):
    """RDKit's AvgIpc goes through numpy matrix products: with more BLAS threads its value moved
    by up to 3.7e-4 on real Tox21 molecules, and every Tox21 result with it."""
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []

    def record(task):
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return "ok", [], {}

    monkeypatch.setattr(tox21, "featurise_one", record)
    with threadpool_limits(2):
        tox21.featurise_all(["a", "b"], 2, n_jobs=1)
    assert len(seen) == 2 and all(threads and set(threads) == {1} for threads in seen), seen
