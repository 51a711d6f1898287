"""UCI prepare: a synthetic dataset laid out like the originals, each kind of bad input, and the mirror."""

from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from helpers import write_verified_source
from snnbench import benchmarks
from snnbench.benchmarks.uci.data import dataset_names, paper_split, prepare, read_metadata
from snnbench.benchmarks.uci.split_table import split_soundness, split_table, table_rows
from snnbench.contracts.prepared import PreparedDataset, read_card
from snnbench.data.prepare import prepare_dataset
from snnbench.errors import ConfigError, DataError, UnavailableError
from snnbench.pipeline.data_summary import summarize

NAME = "iris"  # a real name (the registry comes from the shipped manifest); the content is synthetic


def _fmt(rows) -> str:
    return "\n".join(",".join(f"{v:g}" for v in row) for row in rows) + "\n"


def make_uci(raw, *, n=40, d=3, classes=3, two_files=False, seed=0, edit=None, missing=()):
    """Write synthetic FD + data_py sources for NAME into raw; ``edit(files)`` may corrupt them.

    ``missing``: data_py members left out and reported missing, as a download reports them.
    """
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(n, d)), 4)
    y = np.arange(n) % classes
    n1 = n - 10 if two_files else n
    folds = np.zeros((n, 4), dtype=int)
    val = np.zeros((n, 4), dtype=int)
    for k in range(4):
        folds[k * 5 : k * 5 + 5, k] = 1
        val[20 + k * 3 : 20 + k * 3 + 3, k] = 1
    meta = [f"n_entradas= {d}", f"n_clases= {classes}", f"n_arquivos= {2 if two_files else 1}", f"fich1= {NAME}_R.dat",
            f"n_patrons1= {n1}"]
    if two_files:
        meta += [f"fich2= {NAME}_test_R.dat", f"n_patrons2= {n - n1}"]
    header = "\t" + "\t".join(f"f{i + 1}" for i in range(d)) + "\tclase\n"

    def rdat(lo, hi):
        return header + "".join(f"{i + 1}\t" + "\t".join(f"{v:g}" for v in X[lo + i]) + f"\t{y[lo + i]}\n"
                                for i in range(hi - lo))

    fd = {f"{NAME}/{NAME}.txt": "\n".join(meta) + "\n", f"{NAME}/{NAME}_R.dat": rdat(0, n1),
          f"{NAME}/conxuntos.dat": " ".join(map(str, range(0, n1 // 2))) + "\n"
                                   + " ".join(map(str, range(n1 // 2, n1))) + "\n",
          f"{NAME}/conxuntos_kfold.dat": "".join(" ".join(map(str, [i for i in range(n1) if i % 4 != k])) + "\n"
                                                 + " ".join(map(str, range(k, n1, 4))) + "\n" for k in range(4))}
    if two_files:
        fd[f"{NAME}/{NAME}_test_R.dat"] = rdat(n1, n)
    py = {f"{NAME}/{NAME}_py.dat": _fmt(X), f"{NAME}/labels_py.dat": _fmt(y[:, None]),
          f"{NAME}/folds_py.dat": _fmt(folds), f"{NAME}/validation_folds_py.dat": _fmt(val)}
    files = {"fd": fd, "py": py}
    if edit:
        edit(files)
    write_verified_source(raw, "uci121", {k: v.encode() for k, v in files["fd"].items()})
    write_verified_source(raw, "uci121_data_py", {k: v.encode() for k, v in files["py"].items() if k not in missing},
                          missing=missing)
    return X, y


def _replace_line(text: str, lineno: int, new: str) -> str:
    lines = text.splitlines()
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


def test_synthetic_dataset_is_prepared_with_both_protocols(tmp_path):
    X, y = make_uci(tmp_path)
    arrays, meta = prepare(NAME, tmp_path)
    np.testing.assert_allclose(arrays["X"], X, rtol=1e-6)
    np.testing.assert_array_equal(arrays["y"], y)
    assert arrays["X"].dtype == np.float32 and arrays["test_folds"].shape == (40, 4)
    assert (meta["n"], meta["d"], meta["classes"], meta["size_group"]) == (40, 3, 3, "small")
    train, val, test = paper_split(arrays, 0)
    np.testing.assert_array_equal(test, np.arange(5))
    np.testing.assert_array_equal(val, np.arange(20, 23))
    assert len(train) == 40 - 5 - 3 and not set(train) & (set(val) | set(test))
    np.testing.assert_array_equal(arrays["fd_train"], np.arange(20))
    assert set(arrays["fd_kfold_test_1"]) == set(range(1, 40, 4))
    assert "X_fd" not in arrays
    with pytest.raises(ValueError, match="column=4"):
        paper_split(arrays, 4)


def test_a_class_absent_from_a_part_makes_the_split_unsound_in_card_and_summary(tmp_path):
    def drop_validation_row(files):  # column 0's validation keeps rows 21, 22 (classes 0, 1): class 2 is absent
        key = f"{NAME}/validation_folds_py.dat"
        files["py"][key] = _replace_line(files["py"][key], 21, "0,0,0,0")

    make_uci(tmp_path / "raw", edit=drop_validation_row)
    status, card = prepare_dataset(benchmarks.get("uci"), NAME, raw_dir=tmp_path / "raw", prepared_dir=tmp_path)
    assert status == "ok"
    entries = read_card(card)["split_classes"]
    assert entries[0] == {"column": 0, "sound": False,
                          "missing": {"training": [], "validation": [2], "test": []}}
    assert all(e["sound"] for e in entries[1:])
    row = summarize([card]).iloc[0]
    assert bool(row["split_sound"]) is False
    assert (row["missing_training"], row["missing_validation"], row["missing_test"]) == ("", "2", "")
    # the run's columns (train.uci_splits) are judged: column 1 alone is sound, 0 and 1 are not
    assert bool(summarize([card], split_columns={"uci": [1]}).iloc[0]["split_sound"]) is True
    both = summarize([card], split_columns={"uci": [0, 1]}).iloc[0]
    assert (bool(both["split_sound"]), both["split_columns"], both["missing_validation"]) == (False, "0 1", "0: 2")

    make_uci(tmp_path / "raw2")
    status, card = prepare_dataset(benchmarks.get("uci"), NAME, raw_dir=tmp_path / "raw2", prepared_dir=tmp_path)
    assert bool(summarize([card]).iloc[0]["split_sound"]) is True


def test_shipped_split_table_counts_the_unsound_splits():
    assert split_soundness().value_counts().to_dict() == {True: 101, False: 19}
    assert split_soundness((0, 1, 2, 3)).value_counts().to_dict() == {True: 92, False: 28}
    assert split_soundness().isna().sum() == 1 and pd.isna(split_soundness()["miniboone"])
    low = split_table().set_index(["dataset", "column"]).loc[("low-res-spect", 1)]
    assert low["missing_training"] == "5"


@pytest.mark.mirror
def test_shipped_split_table_matches_preparation(mirror_raw, tmp_path):
    table = split_table().astype({"sound": bool})
    for name in ("audiology-std", "low-res-spect", "ecoli", "iris"):
        status, card = prepare_dataset(benchmarks.get("uci"), name, raw_dir=mirror_raw, prepared_dir=tmp_path)
        assert status == "ok"
        expected = pd.DataFrame(table_rows(name, read_card(card)["split_classes"]))
        shipped = table[table["dataset"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(shipped, expected, check_dtype=False)


def test_two_file_dataset_with_unstandardised_test_file_keeps_fd_values(tmp_path):
    def raw_test_file(files):
        path = f"{NAME}/{NAME}_test_R.dat"
        lines = files["fd"][path].splitlines()
        out = [lines[0]] + ["\t".join([p[0]] + [str(float(v) * 100 + 8000) for v in p[1:-1]] + [p[-1]])
                            for p in (line.split("\t") for line in lines[1:])]
        files["fd"][path] = "\n".join(out) + "\n"

    X, _ = make_uci(tmp_path, two_files=True, edit=raw_test_file)
    arrays, meta = prepare(NAME, tmp_path)
    np.testing.assert_allclose(arrays["X"], X, rtol=1e-6)
    np.testing.assert_allclose(arrays["X_fd"][30:], X[30:] * 100 + 8000, rtol=1e-5)
    assert meta["files"] == 2 and any("X_fd" in note for note in meta["notes"])


BAD_INPUTS = [
    ("wrong column count",
     lambda f: f["py"].__setitem__(f"{NAME}/{NAME}_py.dat", _replace_line(f["py"][f"{NAME}/{NAME}_py.dat"], 7, "1,2")),
     f"{NAME}_py.dat, line 7: 2 fields, expected 3"),
    ("non-numeric value",
     lambda f: f["fd"].__setitem__(f"{NAME}/{NAME}_R.dat",
                                   f["fd"][f"{NAME}/{NAME}_R.dat"].replace("\n5\t", "\n5\tabc\t", 1)),
     f"{NAME}_R.dat, line 6: "),
    ("label out of range",
     lambda f: f["py"].__setitem__(f"{NAME}/labels_py.dat", _replace_line(f["py"][f"{NAME}/labels_py.dat"], 12, "7")),
     "labels_py.dat, line 12: label 7 is out of range 0..2"),
    ("split file too short",
     lambda f: f["py"].__setitem__(f"{NAME}/folds_py.dat",
                                   "".join(f["py"][f"{NAME}/folds_py.dat"].splitlines(True)[:-3])),
     "folds_py.dat: has 37 rows, but iris.txt"),
    ("test and validation overlap",
     lambda f: f["py"].__setitem__(f"{NAME}/validation_folds_py.dat",
                                   _replace_line(f["py"][f"{NAME}/validation_folds_py.dat"], 2, "1,0,0,0")),
     "validation_folds_py.dat, line 2: column 1 marks 1 validation rows that folds_py.dat column 1 puts in the "
     "test set"),
    ("labels disagree",
     lambda f: f["py"].__setitem__(f"{NAME}/labels_py.dat", _replace_line(f["py"][f"{NAME}/labels_py.dat"], 4, "2")),
     f"{NAME}_R.dat, line 5: class 0 at this line, but labels_py.dat line 4 says 2"),
    ("index out of range", lambda f: f["fd"].__setitem__(f"{NAME}/conxuntos.dat", "0 1 99\n2 3\n"),
     "conxuntos.dat, line 1: index 99 is outside 0..39"),
    ("non-binary split value",
     lambda f: f["py"].__setitem__(f"{NAME}/folds_py.dat",
                                   _replace_line(f["py"][f"{NAME}/folds_py.dat"], 30, "0,2,0,0")),
     "folds_py.dat, line 30: column 2 is 2"),
    ("malformed metadata",
     lambda f: f["fd"].__setitem__(f"{NAME}/{NAME}.txt", f["fd"][f"{NAME}/{NAME}.txt"] + "garbage line\n"),
     f"{NAME}.txt, line 6: expected 'key= value'"),
]


@pytest.mark.parametrize("what,edit,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_file_and_line(tmp_path, what, edit, message):
    make_uci(tmp_path, edit=edit)
    with pytest.raises(DataError) as info:
        prepare(NAME, tmp_path)
    assert message in str(info.value)


def test_failed_and_unavailable_datasets_get_cards_not_exceptions(tmp_path):
    make_uci(tmp_path / "raw", edit=BAD_INPUTS[2][1])
    status, card = prepare_dataset(benchmarks.get("uci"), NAME, raw_dir=tmp_path / "raw",
                                   prepared_dir=tmp_path / "prep")
    assert status == "failed" and "label 7 is out of range" in read_card(card)["reason"]
    assert not card.with_suffix(".npz").exists()
    with pytest.raises(DataError, match="dataset is failed"):
        PreparedDataset.load(card)

    write_verified_source(tmp_path / "raw2", "uci121", {}, missing=(f"{NAME}/{NAME}.txt",))
    write_verified_source(tmp_path / "raw2", "uci121_data_py", {})
    status, card = prepare_dataset(benchmarks.get("uci"), NAME, raw_dir=tmp_path / "raw2",
                                   prepared_dir=tmp_path / "prep")
    assert status == "unavailable" and "is not in the test archive" in read_card(card)["reason"]


def test_ok_dataset_round_trips_through_the_contract(tmp_path):
    make_uci(tmp_path / "raw")
    status, card = prepare_dataset(benchmarks.get("uci"), NAME, raw_dir=tmp_path / "raw",
                                   prepared_dir=tmp_path / "prep")
    assert status == "ok"
    data = PreparedDataset.load(card)
    assert data.meta["n"] == 40 and data["X"].shape == (40, 3)


def test_unknown_dataset_name_is_a_config_error_with_suggestions(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown UCI dataset\(s\) in setting `dataset`: 'irsi' \(did you mean iris"):
        prepare_dataset(benchmarks.get("uci"), "irsi", raw_dir=tmp_path, prepared_dir=tmp_path)


def test_registry_has_the_121_datasets():
    names = dataset_names()
    assert len(names) == 121 and "miniboone" in names and "iris" in names


# --------------------------------------------------------------------------- the real data

def _published_table_a11() -> dict[str, dict]:
    text = resources.files("snnbench.reference").joinpath("snn_tableA11_uci_fnn_accuracies.csv").read_text()
    return {row["dataset"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.mirror
def test_all_available_uci_datasets_from_the_mirror(mirror_raw, tmp_path):
    published = _published_table_a11()
    statuses = {}
    for name in dataset_names():
        status, card = prepare_dataset(benchmarks.get("uci"), name, raw_dir=mirror_raw, prepared_dir=tmp_path)
        statuses[name] = status
        if status != "ok":
            continue
        meta = read_card(card)
        info = read_metadata(mirror_raw / "uci121" / name / f"{name}.txt")
        assert meta["n"] == info["n_patrons1"] + info.get("n_patrons2", 0), name
        assert (meta["d"], meta["classes"]) == (info["n_entradas"], info["n_clases"]), name
        assert meta["n"] == int(published[name]["N"]) and meta["d"] + 1 == int(published[name]["M"]), name
        assert meta["size_group"] == ("small" if meta["n"] < 1000 else "large")
        shipped = split_table()
        assert table_rows(name, meta["split_classes"]) == [
            {**r, "sound": bool(r["sound"])} for r in shipped[shipped["dataset"] == name].to_dict("records")], name
    assert sum(s == "ok" for s in statuses.values()) == 120
    assert statuses["miniboone"] == "unavailable"
    assert "miniboone_R.dat is not in" in read_card(tmp_path / "uci" / "miniboone.json")["reason"]
    fd_quirks = sorted(n for n in dataset_names() if statuses[n] == "ok"
                       and "X_fd" in read_card(tmp_path / "uci" / f"{n}.json")["array_shapes"])
    assert fd_quirks == ["hayes-roth", "hill-valley", "horse-colic", "image-segmentation", "soybean", "spect"]
    groups = [read_card(tmp_path / "uci" / f"{n}.json")["size_group"] for n in dataset_names() if statuses[n] == "ok"]
    assert groups.count("small") == 75 and groups.count("large") == 45  # 46 large in the paper, with miniboone


def test_unavailable_when_features_are_missing(tmp_path):
    make_uci(tmp_path, missing=(f"{NAME}/{NAME}_py.dat",))
    with pytest.raises(UnavailableError, match=f"{NAME}/{NAME}_py.dat is not in the test archive"):
        prepare(NAME, tmp_path)
