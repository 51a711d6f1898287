"""Rank statistics over datasets, as in the paper's UCI comparison (Table 1, Tables A12/A13).

Every function takes a wide accuracy table ``acc``: index = dataset, columns = method, values =
accuracy (higher is better), NaN where a method has no result. The functions are pure: they
neither change ``acc`` nor touch files, except :func:`paper_check`, which writes its CSVs.

The paper's procedure (reference/README.md): per dataset, rank the methods by accuracy (1 = best,
ties get the average rank, a missing result gets the worst rank); average the ranks over the
datasets; compare the best-ranked method with each other one by a one-sided paired Wilcoxon
signed-rank test over the datasets, without multiple-testing correction; star p < 0.05.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from snnbench.atomic import atomic_write_csv
from snnbench.reference import SMALL_N
from snnbench.settings import MISSING_RULES, WILCOXON_METHODS, StatsSettings

MissingRule = Literal["shared", "ordered"]
WilcoxonMethod = Literal["r-default", "auto", "exact", "asymptotic", "exact-if-small"]

PERMUTATION_MAX_N = 13  # "auto": scipy's exact sign-flip distribution with ties or zeros up to this many pairs
EXACT_MAX_N = 50  # "exact-if-small": exact null distribution up to this many pairs (scipy's cut-off)
R_EXACT_BELOW_N = 50  # "r-default": R's wilcox.test is exact for fewer non-zero differences than this
DIFF_DECIMALS = 12  # differences of exact fractions (denominators <= 1e5) that are equal agree to 1e-12
DEFAULTS = StatsSettings()  # the config's stats section's defaults: the functions' defaults too
ALPHA = DEFAULTS.alpha


# --- input checks ------------------------------------------------------------------------------


def _check_acc(acc: pd.DataFrame, *, min_methods: int = 2) -> pd.DataFrame:
    """Validate a wide accuracy table and return it as float; raise ValueError naming the problem."""
    if not isinstance(acc, pd.DataFrame):
        raise ValueError(f"acc must be a pandas DataFrame (dataset x method), however: {type(acc)=}")
    if acc.shape[1] < min_methods:
        raise ValueError(f"acc needs at least {min_methods} methods (columns), however: {list(acc.columns)=}")
    if acc.columns.has_duplicates:
        raise ValueError(f"acc has duplicate methods, however: {acc.columns[acc.columns.duplicated()].tolist()=}")
    if acc.index.has_duplicates:
        raise ValueError(f"acc has duplicate datasets, however: {acc.index[acc.index.duplicated()].tolist()=}")
    try:
        values = acc.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"acc must hold numbers (NaN = missing), however: {acc.dtypes.to_dict()=}") from exc
    infinite = values.columns[np.isinf(values.to_numpy()).any(axis=0)].tolist()
    if infinite:
        raise ValueError(f"acc must be finite or NaN, however these methods hold inf: {infinite=}")
    return values


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, however: {name}={value!r}")


def complete_rows(acc: pd.DataFrame) -> pd.DataFrame:
    """The datasets on which every method has a result."""
    return acc.loc[acc.notna().all(axis=1)]


# --- ranks -------------------------------------------------------------------------------------


def rank_table(acc: pd.DataFrame, *, missing: MissingRule = DEFAULTS.missing) -> pd.DataFrame:
    """Per-dataset ranks of the methods: 1 = best (highest accuracy), ties get their average rank.

    A missing result gets the worst rank. With k methods and m of them missing on a dataset, the
    present ones are ranked 1..k-m among themselves and the missing ones take positions k-m+1..k:

    * ``missing="shared"`` (default): every missing method gets the average of those bottom
      positions, k - (m-1)/2, i.e. the missing ones tie for last. It does not depend on the column
      order, so it is the rule for our own results.
    * ``missing="ordered"``: the bottom positions are handed out in column order (the first
      missing column gets k-m+1), as a plain argsort ranking of NaN-last values would do.

    Which reproduces the paper: only Table A11's ``trains`` row (4 of 7 FNNs missing) tells them
    apart in Table 1 (left). ``ordered`` (Table A11 column order) gives the published average ranks
    within 0.017 and SNN's exactly (sum 392.5); ``shared`` within 0.021 (MSRAinit +0.021,
    ResNet -0.021). The remaining gaps are unexplained: they are not Table A11's rounding, whose
    843 accuracies are all correct / test-row fractions rounded half up
    (``reference.exact_counts``), so the ties here are the exact ones. ``shared`` stays the default
    because a statistic should not depend on the order of the columns; tests/evaluation/test_stats.py records both.

    Datasets on which every method is missing carry no information and are dropped.
    """
    _check_choice("missing", missing, MISSING_RULES)
    values = _check_acc(acc)
    values = values.loc[values.notna().any(axis=1)]
    ranks = values.rank(axis=1, ascending=False, method="average", na_option="keep")
    is_missing = values.isna()
    n_present = values.notna().sum(axis=1).to_numpy()[:, None]
    if missing == "shared":
        n_missing = is_missing.sum(axis=1).to_numpy()[:, None]
        fill = np.broadcast_to(n_present + (n_missing + 1) / 2.0, values.shape)
    else:
        fill = n_present + is_missing.cumsum(axis=1).to_numpy()
    out = ranks.mask(is_missing, pd.DataFrame(fill, index=values.index, columns=values.columns))
    return out.astype(float)


def average_ranks(acc: pd.DataFrame, *, missing: MissingRule = DEFAULTS.missing) -> pd.Series:
    """Average rank of each method over the datasets (see :func:`rank_table`), best first.

    Equal averages keep the column order.
    """
    means = rank_table(acc, missing=missing).mean(axis=0)
    return means.sort_values(kind="stable").rename("avg_rank")


def expected_rank(k: int) -> float:
    """The average rank of k methods under no difference at all: (k + 1) / 2."""
    if k < 1:
        raise ValueError(f"k must be a positive number of methods, however: {k=}")
    return (k + 1) / 2.0


# --- tests -------------------------------------------------------------------------------------


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment of a family of p-values (NaN entries are left out of the family
    and stay NaN). Adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j)) for the sorted p."""
    p = pd.Series(p_values, dtype=float)
    bad = p[(p < 0) | (p > 1)]
    if not bad.empty:
        raise ValueError(f"p-values must lie in [0, 1], however: {bad.to_dict()=}")
    present = p.dropna()
    order = np.argsort(present.to_numpy(), kind="stable")
    m = len(present)
    scaled = present.to_numpy()[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = pd.Series(np.nan, index=p.index, dtype=float)
    adjusted.loc[present.index[order]] = adjusted_sorted
    return adjusted


def r_wilcoxon_greater(diff: np.ndarray) -> float:
    """R's default ``wilcox.test(x, y, paired=TRUE, alternative="greater")`` on differences x - y.

    Zeros are dropped; with n < ``R_EXACT_BELOW_N`` non-zero differences and neither ties nor
    zeros, the exact null distribution (``psignrank``); otherwise the normal approximation of V
    (sum of the positive differences' mid-ranks) with the tie-corrected variance
    n(n+1)(2n+1)/24 - sum(t^3 - t)/48 and a continuity correction of 0.5 towards the mean.
    """
    d = np.asarray(diff, dtype=float)
    zeros = bool((d == 0).any())
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return math.nan
    ranks = sps.rankdata(np.abs(d))
    _, tie_sizes = np.unique(ranks, return_counts=True)
    ties = bool((tie_sizes > 1).any())
    v = float(ranks[d > 0].sum())
    if n < R_EXACT_BELOW_N and not ties and not zeros:
        return float(sps.wilcoxon(d, alternative="greater", method="exact").pvalue)
    z = v - n * (n + 1) / 4.0
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_sizes**3 - tie_sizes).sum()) / 48.0)
    return float(sps.norm.sf((z - 0.5) / sigma))


def sign_flip_greater(diff: np.ndarray) -> float:
    """P(V >= observed V) over all 2^n sign flips of the differences (V: the sum of the positive
    differences' mid-ranks of |d|, zeros dropped): the exact null distribution with ties and zeros.
    scipy's ``method="auto"`` computes it for n <= ``PERMUTATION_MAX_N`` pairs (zeros counted) that
    have ties or zeros, through ``permutation_test``; this enumeration gives the same p-values
    (tests/evaluation/test_stats.py) some 10^4 times faster."""
    d = np.asarray(diff, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return math.nan
    ranks = sps.rankdata(np.abs(d))
    observed = float(ranks[d > 0].sum())
    positive = (np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1
    null = positive @ ranks
    return float(np.mean(null >= observed - 100 * np.finfo(float).eps * abs(observed)))


def paired_differences(x: pd.Series, y: pd.Series) -> np.ndarray:
    """x - y on the datasets both have, rounded to ``DIFF_DECIMALS``: the differences every paired
    test and every wins / ties / losses count uses, so that a zero is an exact tie."""
    pairs = pd.concat([pd.Series(x, dtype=float), pd.Series(y, dtype=float)], axis=1, join="inner").dropna()
    return (pairs.iloc[:, 0] - pairs.iloc[:, 1]).round(DIFF_DECIMALS).to_numpy()


def wins_ties_losses(x: pd.Series, y: pd.Series) -> tuple[int, int, int]:
    """Datasets where x is better than, equal to, worse than y (:func:`paired_differences`)."""
    diff = paired_differences(x, y)
    return int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())


def paired_wilcoxon_greater(x: pd.Series, y: pd.Series, *, method: WilcoxonMethod = DEFAULTS.wilcoxon
                            ) -> tuple[float, int]:
    """One-sided paired Wilcoxon signed-rank test of "x is greater than y".

    Pairs with a missing value are dropped; zero differences are dropped (``zero_method="wilcox"``).
    Differences are rounded to ``DIFF_DECIMALS`` so that equal exact fractions give equal
    differences (zeros and tied |d| decided exactly, not by floating point). ``method`` is
    scipy's (``auto``, the default: the best measured fit to the published p-values, 6 / 6,
    22 / 23 and 16 / 23 rows of Tables 1 (left), A12, A13 within 5 %, docs/protocol.md S2: the
    exact null distribution up to 50 pairs without ties or zeros; with ties or zeros the exact
    sign-flip distribution up to ``PERMUTATION_MAX_N`` pairs, zeros counted
    (:func:`sign_flip_greater`), the normal approximation without continuity correction above;
    ``exact``, ``asymptotic``), ``r-default`` (R's ``wilcox.test``, :func:`r_wilcoxon_greater`), or
    ``exact-if-small``: scipy's exact null distribution up to ``EXACT_MAX_N`` nonzero differences
    whatever the ties (conservative with ties, scipy gh-19872), normal approximation above.
    Returns (p-value, number of pairs used before dropping zeros); p is NaN when no nonzero
    difference is left.
    """
    _check_choice("method", method, WILCOXON_METHODS)
    diff = paired_differences(x, y)
    n_pairs = len(diff)
    n_nonzero = int((diff != 0).sum())
    if n_nonzero == 0:
        return math.nan, n_pairs
    if method == "r-default":
        return r_wilcoxon_greater(diff), n_pairs
    if method == "exact-if-small":
        method = "exact" if n_nonzero <= EXACT_MAX_N else "asymptotic"
    if method == "auto" and n_pairs <= PERMUTATION_MAX_N and (
            n_nonzero < n_pairs or len(np.unique(np.abs(diff[diff != 0]))) < n_nonzero):
        return sign_flip_greater(diff), n_pairs  # what scipy's auto does here, without its permutation_test
    result = sps.wilcoxon(diff, zero_method="wilcox", alternative="greater", method=method)
    return float(result.pvalue), n_pairs


def wilcoxon_vs_best(
    acc: pd.DataFrame,
    *,
    missing: MissingRule = DEFAULTS.missing,
    method: WilcoxonMethod = DEFAULTS.wilcoxon,
    alpha: float = ALPHA,
    reference: str | None = None,
) -> pd.DataFrame:
    """The paper's comparison: average ranks, and the best-ranked method against each other one.

    One row per method, best first (sorted by average rank; on equal averages the earlier column
    is "best"). Columns: ``method``, ``avg_rank``, ``avg_rank_minus_expected`` (minus (k+1)/2),
    ``p_value`` (one-sided paired Wilcoxon signed-rank test on the accuracies, alternative: the
    best is greater; see :func:`paired_wilcoxon_greater`; NaN for the best itself), ``n_datasets``
    (pairs used, after dropping datasets where either is missing; for the best: its own results),
    ``p_holm`` (Holm-adjusted over the k-1 comparisons, beyond the paper), ``star``
    (``p_value < alpha``, unadjusted, as in the paper), ``vs`` (the method tested against).
    ``reference`` names the method every other is tested against instead of the best-ranked.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), however: {alpha=}")
    values = _check_acc(acc)
    ranks = average_ranks(values, missing=missing)
    if reference is not None and reference not in values.columns:
        raise ValueError(f"the reference method {reference!r} has no column here: {', '.join(values.columns)}")
    best = ranks.index[0] if reference is None else reference
    rows = []
    for name, avg in ranks.items():
        if name == best:
            p, n = math.nan, int(values[best].notna().sum())
        else:
            p, n = paired_wilcoxon_greater(values[best], values[name], method=method)
        rows.append({"method": name, "avg_rank": float(avg), "p_value": p, "n_datasets": n})
    table = pd.DataFrame(rows)
    table.insert(2, "avg_rank_minus_expected", table["avg_rank"] - expected_rank(values.shape[1]))
    table["p_holm"] = holm(table["p_value"]).to_numpy()
    table["star"] = (table["p_value"] < alpha).to_numpy()
    table["vs"] = best
    return table


def leaderboard(acc: pd.DataFrame, *, reference: str, missing: MissingRule = DEFAULTS.missing,
                method: WilcoxonMethod = DEFAULTS.wilcoxon, alpha: float = ALPHA) -> pd.DataFrame:
    """Every method against one ``reference`` (a column of ``acc``), best average rank first.

    Columns: ``place`` (1 = best average rank), ``method``, ``avg_rank``,
    ``avg_rank_minus_expected``, ``wins`` / ``ties`` / ``losses`` against the reference (datasets
    where both have a result, :func:`wins_ties_losses`: a tie is an exact zero difference), ``p_value`` (one-sided
    paired Wilcoxon: the reference is better, as in the paper's tables), ``p_holm``, ``p_better``
    (one-sided: the method is better than the reference), ``p_better_holm`` (each Holm-adjusted
    over the methods), ``star`` (``p_value < alpha``), ``n_datasets`` (pairs), ``vs``, and
    ``verdict``: ``better`` / ``worse`` than the reference where the Holm-adjusted paired test says
    so at ``alpha``, else ``no difference`` (``reference`` for itself). Rows are ordered by the
    verdict first (better, no difference, worse) and by average rank second: the paired tests do
    not depend on which other methods are in the pool, the average ranks do (Benavoli, Corani &
    Mangili 2016)."""
    values = _check_acc(acc)
    if reference not in values.columns:
        raise ValueError(f"the reference method {reference!r} has no column here: {', '.join(values.columns)}")
    ranks = average_ranks(values, missing=missing)
    rows = []
    for place, (name, avg) in enumerate(ranks.items(), start=1):
        row = {"place": place, "method": name, "avg_rank": float(avg)}
        if name == reference:
            row.update(wins=None, ties=None, losses=None, p_value=math.nan, p_better=math.nan,
                       n_datasets=int(values[name].notna().sum()))
        else:
            worse, n = paired_wilcoxon_greater(values[reference], values[name], method=method)
            better, _ = paired_wilcoxon_greater(values[name], values[reference], method=method)
            wins, ties, losses = wins_ties_losses(values[name], values[reference])
            row.update(wins=wins, ties=ties, losses=losses, p_value=worse, p_better=better, n_datasets=n)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(3, "avg_rank_minus_expected", table["avg_rank"] - expected_rank(values.shape[1]))
    table["p_holm"] = holm(table["p_value"]).to_numpy()
    table["p_better_holm"] = holm(table["p_better"]).to_numpy()
    table["star"] = (table["p_value"] < alpha).to_numpy()
    table["vs"] = reference
    for column in ("wins", "ties", "losses"):
        table[column] = table[column].astype("Int64")
    table["verdict"] = np.select([table["method"] == reference, table["p_better_holm"] < alpha,
                                  table["p_holm"] < alpha], ["reference", "better", "worse"], "no difference")
    order = table["verdict"].map(VERDICT_ORDER)
    return table.assign(_order=order).sort_values(["_order", "place"], kind="stable").drop(columns="_order")


def head_to_head(acc: pd.DataFrame, method: str, others: list[str], *, wilcoxon: WilcoxonMethod = DEFAULTS.wilcoxon,
                 alpha: float = ALPHA) -> pd.DataFrame:
    """``method`` (a column of ``acc``) against each of ``others``, one row each: wins / ties / losses
    of ``method`` on the datasets both have, ``p_better`` (one-sided paired Wilcoxon: ``method`` is
    better) and ``p_worse`` (the other is better), each Holm-adjusted over ``others``
    (``p_better_holm``, ``p_worse_holm``), and ``verdict`` (``better`` / ``worse`` where the adjusted
    test says so at ``alpha``, else ``no difference``). Unlike average ranks, none of it depends on
    which other methods are in the pool."""
    values = _check_acc(acc)
    rows = []
    for other in others:
        better, n = paired_wilcoxon_greater(values[method], values[other], method=wilcoxon)
        worse, _ = paired_wilcoxon_greater(values[other], values[method], method=wilcoxon)
        wins, ties, losses = wins_ties_losses(values[method], values[other])
        rows.append({"method": method, "vs": other, "wins": wins, "ties": ties, "losses": losses,
                     "p_better": better, "p_worse": worse, "n_datasets": n})
    table = pd.DataFrame(rows, columns=["method", "vs", "wins", "ties", "losses", "p_better", "p_worse", "n_datasets"])
    table["p_better_holm"] = holm(table["p_better"]).to_numpy()
    table["p_worse_holm"] = holm(table["p_worse"]).to_numpy()
    table["verdict"] = np.select([table["p_better_holm"] < alpha, table["p_worse_holm"] < alpha],
                                 ["better", "worse"], "no difference")
    return table


VERDICT_ORDER = {"better": 0, "reference": 1, "no difference": 1, "worse": 2}


def pool_difference(acc: pd.DataFrame, published: pd.Series, *, missing: MissingRule = DEFAULTS.missing) -> float:
    """The largest absolute difference between the average ranks of ``acc`` (the published methods
    on the datasets of a run) and ``published`` (the paper's average ranks of the same methods)."""
    ours = average_ranks(acc, missing=missing)
    return float((ours - published.reindex(ours.index)).abs().max())


def friedman(acc: pd.DataFrame) -> dict:
    """Friedman's chi-square test that all methods rank alike (scipy.stats.friedmanchisquare).

    Uses the complete rows only: the datasets on which every method has a result (``n_dropped``
    says how many others were left out). Returns dict(statistic, p_value, n_datasets, k, n_dropped).
    """
    values = _check_acc(acc, min_methods=3)
    complete = complete_rows(values)
    if len(complete) < 2:
        raise ValueError(f"friedman needs at least 2 datasets with every method present, however: {len(complete)=}")
    result = sps.friedmanchisquare(*(complete[c].to_numpy() for c in complete.columns))
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "n_datasets": len(complete),
        "k": complete.shape[1],
        "n_dropped": len(values) - len(complete),
    }


def nemenyi_cd(*, k: int, n_datasets: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks (Demsar 2006): q_alpha * sqrt(k(k+1) / 6N),
    q_alpha = the studentized range quantile for k groups and infinite df, divided by sqrt 2."""
    if k < 2 or n_datasets < 1:
        raise ValueError(f"need k >= 2 methods and at least one dataset, however: {k=} {n_datasets=}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), however: {alpha=}")
    q = sps.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n_datasets)))


def critical_difference(acc: pd.DataFrame, *, alpha: float = ALPHA) -> dict:
    """What a critical-difference diagram needs, on the complete rows (every method present).

    Returns dict(ranks = average ranks on those rows, best first; p_values = the Nemenyi pairwise
    p-value matrix (scikit_posthocs.posthoc_nemenyi_friedman), method x method; cd = Nemenyi's
    critical difference at ``alpha``; n_datasets; k; alpha). Feed ``ranks`` and ``p_values`` to
    ``scikit_posthocs.critical_difference_diagram``; nothing is plotted here.
    """
    import scikit_posthocs  # imported here: it pulls in matplotlib

    values = _check_acc(acc, min_methods=3)
    complete = complete_rows(values)
    if len(complete) < 2:
        raise ValueError(f"critical_difference needs at least 2 complete datasets, however: {len(complete)=}")
    matrix = scikit_posthocs.posthoc_nemenyi_friedman(complete.to_numpy())
    p_values = pd.DataFrame(matrix.to_numpy(), index=complete.columns, columns=complete.columns)
    return {
        "ranks": average_ranks(complete),
        "p_values": p_values,
        "cd": nemenyi_cd(k=complete.shape[1], n_datasets=len(complete), alpha=alpha),
        "n_datasets": len(complete),
        "k": complete.shape[1],
        "alpha": alpha,
    }


# --- dataset groups ----------------------------------------------------------------------------


def size_groups(sizes: pd.Series, *, small_n: int = SMALL_N) -> dict[str, pd.Index]:
    """The paper's dataset groups from the sizes N (Series indexed by dataset): ``all``,
    ``small`` (N < small_n) and ``large`` (N >= small_n); small_n defaults to 1000."""
    raw = pd.Series(sizes)
    n = pd.to_numeric(raw, errors="coerce")
    bad = raw[n.isna() | (n < 0)]
    if not bad.empty:
        raise ValueError(f"sizes must be non-negative numbers, however: {bad.to_dict()=}")
    return {"all": n.index, "small": n.index[n < small_n], "large": n.index[n >= small_n]}


# --- the paper's own numbers -------------------------------------------------------------------


# --- a benchmark's statistics file (stats.csv: one row per statistic, with the settings used) ----


def stamped(frame: pd.DataFrame, stats: StatsSettings) -> pd.DataFrame:
    """``frame`` (a benchmark's statistics) with a column per ``stats`` setting: how it was computed,
    read back by :func:`settings_of`."""
    from dataclasses import asdict

    return frame.assign(**asdict(stats))


NOT_COMPUTED = "not_computed"  # the ``table`` of a stats.csv row saying why a benchmark's statistics are missing


def not_computed(reason: str, stats: StatsSettings) -> pd.DataFrame:
    """The statistics of a benchmark none of whose statistics could be computed: one row saying
    why (``table = not_computed``, ``error``), with the settings, so the tables can say it."""
    return stamped(pd.DataFrame([{"table": NOT_COMPUTED, "group": "", "split": "", "method": "", "error": reason}]),
                   stats)


def why_not_computed(statistics: pd.DataFrame) -> str:
    """The reason a :func:`not_computed` row gives, or ''."""
    rows = statistics[statistics["table"] == NOT_COMPUTED] if "table" in statistics else statistics.iloc[:0]
    return "; ".join(str(e) for e in rows["error"]) if len(rows) else ""


def missing_results(scores: pd.DataFrame) -> str:
    """Our jobs without a result, in one line: per dataset and status, the reason (its first line)
    and the methods; '' when every job has one."""
    rows = scores[scores["source"] == "ours"] if "source" in scores else scores.iloc[:0]
    if rows.empty:
        return "no training job gave a summary"
    bad = rows[rows["status"] != "ok"]
    parts = []
    for (dataset, status), group in bad.groupby(["dataset", "status"], sort=True):
        reasons = sorted({str(r).strip().splitlines()[0] for r in group["reason"].dropna() if str(r).strip()})
        parts.append(f"{dataset} {status}" + (f" ({'; '.join(reasons)})" if reasons else "")
                     + f" for {', '.join(sorted(set(group['method'])))}")
    return "; ".join(parts)


def settings_of(statistics: pd.DataFrame) -> StatsSettings:
    """How ``statistics`` (a ``stats.csv``: ``benchmarks.uci.stats.uci_statistics``' or
    ``benchmarks.htru2.stats.htru2_statistics``' rows) were computed."""
    from dataclasses import asdict

    keys = list(asdict(StatsSettings()))
    values = statistics[keys].drop_duplicates()
    if len(values) != 1:
        raise ValueError(f"the statistics were computed with more than one setting: {values.to_dict('records')}")
    return StatsSettings(**{k: (v.item() if hasattr(v, "item") else v) for k, v in values.iloc[0].items()})


def write_statistics(frame: pd.DataFrame, path: str | Path) -> Path:
    """``frame`` as a CSV, atomically (no half-written file under the final name)."""
    atomic_write_csv(Path(path), frame)
    return Path(path)


def read_statistics(path: str | Path) -> pd.DataFrame:
    """``stats.csv`` back as it was computed."""
    frame = pd.read_csv(path, dtype={"split": str, "method": str, "vs": str, "reference": str})
    if "split" in frame:
        frame["split"] = frame["split"].fillna("")
    return frame
