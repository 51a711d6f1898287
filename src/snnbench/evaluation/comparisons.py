"""Comparisons of methods over datasets beyond the paper's tests, benchmark-free: corrections for
multiple comparisons, the Friedman / Iman-Davenport omnibus with Nemenyi's critical difference,
the Bayesian signed-rank test (baycomp), bootstrap and leave-one-out over datasets, and the
granularity of wins in test rows (docs/protocol.md S9). ``benchmarks/uci/robustness.py`` runs them
on UCI's score tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from snnbench.evaluation.stats import (
    average_ranks,
    complete_rows,
    critical_difference,
    friedman,
    holm,
    paired_wilcoxon_greater,
    rank_table,
)
from snnbench.settings import RobustnessSettings, StatsSettings


def others_than(acc: pd.DataFrame, ref: str) -> list[str]:
    return [m for m in acc.columns if m != ref]


def multiple_comparisons(acc: pd.DataFrame, ref: str, *, stats: StatsSettings) -> pd.DataFrame:
    """The reference against each other method (one-sided paired Wilcoxon, the paper's test), with
    the unadjusted star, Holm and Bonferroni over the family of comparisons."""
    rows = []
    for m in others_than(acc, ref):
        p, n = paired_wilcoxon_greater(acc[ref], acc[m], method=stats.wilcoxon)
        rows.append({"method": m, "n_datasets": n, "p_value": p})
    out = pd.DataFrame(rows)
    k = int(out["p_value"].notna().sum())
    out["p_holm"] = holm(out["p_value"]).to_numpy()
    out["p_bonferroni"] = (out["p_value"] * k).clip(upper=1.0)
    for column, name in (("p_value", "star"), ("p_holm", "star_holm"), ("p_bonferroni", "star_bonferroni")):
        out[name] = out[column] < stats.alpha
    return out


def iman_davenport(chi2: float, *, n: int, k: int) -> tuple[float, float]:
    """Iman and Davenport's F statistic from Friedman's chi-square, and its p-value
    (F with k - 1 and (k - 1)(n - 1) degrees of freedom; Demsar 2006, eq. 2)."""
    denominator = n * (k - 1) - chi2
    if denominator <= 0:
        return math.inf, 0.0
    f = (n - 1) * chi2 / denominator
    return float(f), float(sps.f.sf(f, k - 1, (k - 1) * (n - 1)))


def omnibus(acc: pd.DataFrame, ref: str, *, alpha: float) -> tuple[dict, pd.DataFrame, dict]:
    """Friedman and Iman-Davenport on the complete rows, Nemenyi's CD, and per other method its
    rank difference to the reference, whether it exceeds the CD, the Nemenyi pairwise p-value and
    the Holm-adjusted two-sided z-test against the reference as control; and
    ``stats.critical_difference``'s output (the critical-difference diagram's inputs)."""
    result = friedman(acc)
    diagram = critical_difference(acc, alpha=alpha)
    n, k = diagram["n_datasets"], diagram["k"]
    result["f_iman_davenport"], result["p_iman_davenport"] = iman_davenport(result["statistic"], n=n, k=k)
    result["cd_nemenyi"] = diagram["cd"]
    ranks, nemenyi = diagram["ranks"], diagram["p_values"]
    se = math.sqrt(k * (k + 1) / (6.0 * n))
    rows = []
    for m in others_than(acc, ref):
        diff = float(ranks[m] - ranks[ref])
        rows.append({"method": m, "avg_rank": float(ranks[m]), "reference_avg_rank": float(ranks[ref]),
                     "rank_difference": diff, "exceeds_cd": diff > result["cd_nemenyi"],
                     "p_nemenyi": float(nemenyi.loc[ref, m]), "p_control": float(2 * sps.norm.sf(abs(diff) / se))})
    frame = pd.DataFrame(rows)
    frame["p_control_holm"] = holm(frame["p_control"]).to_numpy()
    frame["significant_nemenyi"] = frame["p_nemenyi"] < alpha
    frame["significant_control_holm"] = (frame["p_control_holm"] < alpha) & (frame["rank_difference"] > 0)
    return result, frame, diagram


def bayesian(acc: pd.DataFrame, ref: str, *,
             settings: RobustnessSettings) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Bayesian signed-rank test (Benavoli et al. 2017; baycomp) of the reference against each other
    method on the datasets where both have a result: P(reference better by more than the rope),
    P(within the rope), P(worse), and the posterior samples (for the plot)."""
    import baycomp

    rows, samples = [], {}
    for m in others_than(acc, ref):
        pairs = acc[[ref, m]].dropna()
        # baycomp's left: x better (the differences y - x below -rope)
        sample = baycomp.SignedRankTest.sample(pairs[ref].to_numpy(), pairs[m].to_numpy(), rope=settings.rope,
                                               nsamples=settings.bayes_samples, random_state=settings.seed)
        winner = np.argmax(sample, axis=1)
        p_better, p_rope, p_worse = (float(np.mean(winner == i)) for i in range(3))
        rows.append({"method": m, "n_datasets": len(pairs), "p_better": p_better, "p_equivalent": p_rope,
                     "p_worse": p_worse, "rope": settings.rope})
        samples[m] = sample
    return pd.DataFrame(rows), samples


def _first_share(means: np.ndarray, column: int) -> np.ndarray:
    """Per draw, the reference's share of first place (1 alone, 1/t tied with t - 1 others, else 0)."""
    best = means.min(axis=1, keepdims=True)
    tied = np.isclose(means, best, rtol=0, atol=1e-12)
    return np.where(tied[:, column], 1.0 / tied.sum(axis=1), 0.0)


def bootstrap(acc: pd.DataFrame, ref: str, *, settings: RobustnessSettings, missing: str) -> tuple[dict, pd.DataFrame]:
    """Datasets resampled with replacement ``settings.draws`` times: P(reference first), each
    method's average rank with a 95 % percentile interval and P(first)."""
    ranks = rank_table(acc, missing=missing)
    rng = np.random.default_rng(settings.seed)
    n = len(ranks)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=settings.draws)
    means = counts @ ranks.to_numpy() / n
    columns = list(ranks.columns)
    frame = pd.DataFrame({"method": columns, "avg_rank": ranks.mean().to_numpy(),
                          "ci_low": np.percentile(means, 2.5, axis=0), "ci_high": np.percentile(means, 97.5, axis=0),
                          "p_first": [float(_first_share(means, i).mean()) for i in range(len(columns))]})
    return {"p_first": float(_first_share(means, columns.index(ref)).mean()), "draws": settings.draws,
            "n_datasets": n}, frame.sort_values("avg_rank", kind="stable").reset_index(drop=True)


def leave_one_out(acc: pd.DataFrame, ref: str, *, stats: StatsSettings) -> tuple[dict, pd.DataFrame]:
    """Each dataset left out in turn: the reference's place and lead over the runner-up (extremes),
    and per other method the largest Wilcoxon p-value and the dataset whose removal gives it."""
    ranks = rank_table(acc, missing=stats.missing)
    total = ranks.sum()
    n = len(ranks)
    places, leads = [], []
    for dataset in ranks.index:
        means = (total - ranks.loc[dataset]) / (n - 1)
        others = means.drop(ref)
        places.append(int((others < means[ref]).sum()) + 1)
        leads.append(float(others.min() - means[ref]))
    rows = []
    for m in others_than(acc, ref):
        worst, at = -1.0, None
        for dataset in acc.index:
            rest = acc.drop(index=dataset)
            p, _ = paired_wilcoxon_greater(rest[ref], rest[m], method=stats.wilcoxon)
            if p == p and p > worst:
                worst, at = p, dataset
        rows.append({"method": m, "max_p_value": worst, "dataset_removed": at,
                     "star_survives_every_removal": worst < stats.alpha})
    return ({"worst_place": max(places), "best_place": min(places), "min_lead": min(leads), "max_lead": max(leads),
             "n_datasets": n}, pd.DataFrame(rows))


def rank_summary(acc: pd.DataFrame, ref: str, *, stats: StatsSettings, missing: str | None = None) -> dict:
    """The reference's average rank and place, and its stars against each other method."""
    if missing == "drop":
        acc = complete_rows(acc)
        missing = "shared"
    means = average_ranks(acc, missing=missing or stats.missing)
    stars = multiple_comparisons(acc, ref, stats=stats)
    return {"n_datasets": len(acc.dropna(how="all")), "avg_rank": float(means[ref]),
            "place": int((means.drop(ref) < means[ref]).sum()) + 1,
            "stars": int(stars["star"].sum()), "of": len(stars),
            "lost": ", ".join(stars.loc[~stars["star"], "method"])}


def granularity(acc: pd.DataFrame, ref: str, test_rows: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per dataset: the reference's accuracy, its best competitor's, and the test rows between
    them (difference x test rows, rounded: the accuracies are fractions of the test rows up to
    their rounding). Per competitor (and 'best competitor'): wins, and the wins decided by one or
    by two test rows."""
    others = others_than(acc, ref)
    rows_of = test_rows.reindex(acc.index)
    best = acc[others].max(axis=1)
    per = pd.DataFrame({"dataset": acc.index, "test_rows": rows_of.to_numpy(), "reference": acc[ref].to_numpy(),
                        "best_competitor": acc[others].idxmax(axis=1).to_numpy(), "best_accuracy": best.to_numpy()})
    per["rows_ahead"] = ((per["reference"] - per["best_accuracy"]) * per["test_rows"]).round()
    summary = []
    for name, competitor in [("best competitor", best), *((m, acc[m]) for m in others)]:
        ahead = ((acc[ref] - competitor) * rows_of).round().dropna()
        wins = ahead[ahead > 0]
        summary.append({"method": name, "datasets": len(ahead), "wins": len(wins), "ties": int((ahead == 0).sum()),
                        "losses": int((ahead < 0).sum()), "wins_by_1_row": int((wins == 1).sum()),
                        "wins_by_1_or_2_rows": int((wins <= 2).sum()),
                        "share_of_wins_by_1_or_2_rows": float((wins <= 2).mean()) if len(wins) else math.nan})
    return per.dropna(subset=["reference"]).reset_index(drop=True), pd.DataFrame(summary)
