"""The paper's published numbers and grids, shipped as package data (see README.md here)."""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources

import pandas as pd
import yaml


def read_text(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text()


@lru_cache(maxsize=None)
def table_a11() -> pd.DataFrame:
    """Table A11: test accuracy of the seven FNNs on each UCI dataset (NaN where the paper has none)."""
    return pd.read_csv(io.StringIO(read_text("snn_tableA11_uci_fnn_accuracies.csv")),
                       na_values=["NA"]).set_index("dataset")


@lru_cache(maxsize=None)
def uci_test_rows() -> pd.Series:
    """Test-set rows of every UCI dataset in the data_py split column 0 (the paper's test set)."""
    return pd.read_csv(io.StringIO(read_text("uci_test_rows.csv"))).set_index("dataset")["n_test"]


def published_uci_accuracy(dataset: str, method: str) -> float | None:
    """Table A11's accuracy of ``method`` on ``dataset``, or None where the paper has none."""
    table = table_a11()
    if dataset not in table.index or method not in table.columns:
        return None
    value = table.at[dataset, method]
    return None if pd.isna(value) else float(value)


# --- Fernandez-Delgado et al. 2014 and the paper's rank tables -------------------------------

FNN_METHODS = ("SNN", "MSRAinit", "Highway", "ResNet", "BatchNorm", "WeightNorm", "LayerNorm")
"""The seven FNN columns of Table A11, in the table's order."""

FD_REPRESENTATIVES: dict[str, str] = {
    "LibSVM_weka": "SVM",
    "RRFglobal_caret": "RandomForest",
    "gcvEarth_caret": "MARS",
    "LogitBoost_weka": "Boosting",
    "JRip_caret": "Rule-based",
    "SimpleLogistic_weka": "LMR",
    "mda_R": "DiscriminantAnalysis",
    "ctreeBag_R": "Bagging",
    "NNge_weka": "NearestNeighbour",
    "rpart2_caret": "DecisionTree",
    "Dagging_weka": "OtherEnsembles",
    "lvq_caret": "NeuralNetworks",
    "NaiveBayes_weka": "Bayesian",
    "pam_caret": "OtherMethods",
    "bayesglm_caret": "GLM",
    "simpls_R": "PLSR",
    "Stacking_weka": "Stacking",
}
"""The 17 Fernandez-Delgado classifiers of the paper's 24-method comparison -> family label
(the labels of ``snn_published_uci_ranks.csv``'s ``method_group`` column)."""

FD_DATASET_NAMES: dict[str, str] = {}
"""Fernandez-Delgado's ``problema`` name -> our dataset name, where they differ. Empty on purpose:
the 121 names of ``fd_classifier_accuracies.txt`` agree verbatim with
``snnbench.benchmarks.uci.data.dataset_names()`` (tests/test_reference.py checks that all 121 map). Add an
entry here should a future results file spell a dataset differently."""

FD_SUMMARY_COLUMNS = ("min", "max", "mean", "std")
"""Per-dataset summary columns at the right of the FD results file; not classifiers."""

_FD_FILE = "fd_classifier_accuracies.txt"
_FD_MISSING = "--"


def _parse_fd_table(text: str) -> pd.DataFrame:
    """Parse the FD results file: keep the full-width dataset rows, skip the separator and the
    trailing ``mean``/``std`` rows (which lack the summary columns), values as given (percent)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    header, body = lines[0], lines[1:]
    if header[0] != "problema":
        raise ValueError(f"{_FD_FILE}: the first column should be 'problema', however: {header[0]=}")
    rows = [fields for fields in body if len(fields) == len(header)]
    skipped = [fields[0] for fields in body if len(fields) != len(header)]
    unexpected = [name for name in skipped if not (set(name) == {"-"} or name in ("mean", "std"))]
    if unexpected:
        raise ValueError(f"{_FD_FILE}: rows with a wrong number of fields, however: {unexpected=}")
    table = pd.DataFrame(rows, columns=header).set_index("problema")
    return table.replace(_FD_MISSING, float("nan")).astype(float)


@lru_cache(maxsize=None)
def fd_accuracies() -> pd.DataFrame:
    """Fernandez-Delgado et al. 2014 test accuracies: index = our dataset names (121), columns =
    their 179 classifiers, values as fractions 0..1, NaN where their run failed (``--``).

    The file's per-dataset summary columns (``FD_SUMMARY_COLUMNS``) and its ``mean``/``std`` rows
    are dropped; names are mapped with ``FD_DATASET_NAMES``.
    """
    table = _parse_fd_table(read_text(_FD_FILE)).drop(columns=list(FD_SUMMARY_COLUMNS))
    table = table.rename(index=FD_DATASET_NAMES)
    table.index.name = "dataset"
    if table.index.has_duplicates or table.columns.has_duplicates:
        raise ValueError(f"{_FD_FILE}: duplicate dataset or classifier names, however: "
                         f"{table.index[table.index.duplicated()].tolist()=} "
                         f"{table.columns[table.columns.duplicated()].tolist()=}")
    return exact_tenths_of_percent(table)


def exact_tenths_of_percent(percent: pd.DataFrame) -> pd.DataFrame:
    """FD's percentages (one decimal) as the fraction tenths / 1000: the double nearest that exact
    rational, so an accuracy equal to another source's (e.g. 90.0 % and 9 / 10 correct test rows)
    is the same float, and ties and zero differences are decided exactly, not by ``x / 100.0``."""
    tenths = (percent * 10).round()
    off = (percent * 10 - tenths).abs() > 1e-6
    if off.to_numpy().any():
        raise ValueError(f"{_FD_FILE}: percentages with more than one decimal, however: "
                         f"{percent.where(off).stack().head().to_dict()=}")
    return tenths / 1000.0


def exact_counts(acc: pd.DataFrame, n_test: pd.Series, *, decimals: int = 4) -> pd.DataFrame:
    """Accuracies printed with ``decimals`` decimals rebuilt as correct / ``n_test`` rows (per
    dataset): the double nearest the exact fraction, where one count rounds to the printed value;
    values that no count over ``n_test`` explains are kept as printed. Table A11: all 843 are
    explained, rounded half up (three are exact halves; under round-half-even energy-y2's SNN,
    174 / 192 = 0.90625 printed 0.9063, would not be, hence "842 of 843" from a check that
    rounds with Python or numpy)."""
    n = n_test.reindex(acc.index).astype(float)
    counts = acc.mul(n, axis=0).round()
    rebuilt = counts.div(n, axis=0)
    fits = (rebuilt - acc).abs() <= 0.5 * 10.0 ** -decimals + 1e-12
    return rebuilt.where(fits, acc)


@lru_cache(maxsize=None)
def published_ranks() -> pd.DataFrame:
    """The paper's Table 1 (left and right) and Tables A12/A13 as published (one row per table and
    method: statistic, value, p_value_vs_best, starred_in_paper); see README.md here."""
    return pd.read_csv(io.StringIO(read_text("snn_published_uci_ranks.csv")))


@lru_cache(maxsize=None)
def published_24_accuracies() -> pd.DataFrame:
    """Accuracies (fractions) of the paper's 24-method comparison, dataset x method: the seven FNN
    columns of Table A11 rebuilt as correct / test rows (``exact_counts``, ``uci_test_rows``)
    followed by the 17 ``FD_REPRESENTATIVES`` from Fernandez-Delgado (exact tenths of a percent)."""
    fnn = exact_counts(table_a11().loc[:, list(FNN_METHODS)], uci_test_rows())
    fd = fd_accuracies()
    missing = sorted(set(fnn.index) ^ set(fd.index))
    if missing:
        raise ValueError(f"Table A11 and the FD results disagree on the datasets, however: {missing=}")
    return pd.concat([fnn, fd.loc[fnn.index, list(FD_REPRESENTATIVES)]], axis=1)


@lru_cache(maxsize=None)
def published_htru2_table3() -> pd.DataFrame:
    """Table 3: HTRU2 AUC mean and std over 10 folds, p-value against SNN; the rows of kind
    ``reference(Lyon et al. 2016)`` are quoted by the paper, not its own runs."""
    return pd.read_csv(io.StringIO(read_text("snn_published_htru2_table3.csv")))


@lru_cache(maxsize=None)
def published_tox21_table2() -> pd.DataFrame:
    """Table 2: Tox21 mean test AUC x 100 and its std over 5 repeats, per method and depth (layers;
    blocks for ResNet); NaN where the paper has no cell (ResNet at 32)."""
    return pd.read_csv(io.StringIO(read_text("snn_published_tox21_table2.csv")), na_values=["NA"])


TOX21_CHALLENGE_WINNER = {"method": "DeepTox (Tox21 challenge winner)", "auc": 0.846,
                          "origin": "Mayr et al. 2016, quoted in the paper's Tox21 section"}
"""The 2015 challenge winner's mean test AUC, which the paper quotes beside Table 2."""


SMALL_N = 1000  # the paper's split of the UCI collection: N < 1000 is "small"


def size_group(n: int) -> str:
    return "small" if n < SMALL_N else "large"


def paper_grids() -> dict[str, dict[str, dict[str, list]]]:
    """The grids of appendix Tables A4-A10, A14-A20, A21-A27, as shipped in snnbench/reference."""
    text = resources.files("snnbench.reference").joinpath("snn_hparam_grids.yaml").read_text()
    raw = yaml.safe_load(text)
    return {b: {m: {k: list(v) for k, v in g.items()} for m, g in methods.items() if m != "selection"}
            for b, methods in raw.items()}
