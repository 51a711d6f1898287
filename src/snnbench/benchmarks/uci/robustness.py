"""How robust is the UCI conclusion ("SNN ranks first; it beats each FNN by a one-sided Wilcoxon
test") under the procedures the field recommends for comparing classifiers over many datasets
(Demsar 2006; Benavoli et al. 2016, 2017), and under the conventions the paper leaves open?

One entry point, :func:`robustness`, on a table of per-dataset accuracies: the published ones
(Table A11's 7 FNNs, with Fernandez-Delgado et al.'s 17 for the 24-method comparisons) or ours
(``results/uci/scores.csv``). Sections (``robustness.csv``'s ``section`` column):

* ``multiple_comparisons``: the reference (SNN) against each other FNN, one-sided paired Wilcoxon
  as the paper (unadjusted stars), next to Holm and Bonferroni; per size group.
* ``omnibus``: Friedman and Iman-Davenport per family (7 FNNs: all, small, large; 24 methods:
  small, large), Nemenyi's critical difference against the reference's lead, the Nemenyi pairwise
  p-value, and a Holm-adjusted post-hoc against the reference (Demsar's comparison with a
  control: z = rank difference / sqrt(k(k+1) / 6N), two-sided).
* ``bayesian``: the Bayesian signed-rank test (baycomp's ``SignedRankTest``), P(reference
  better), P(practically equivalent within ``rope``), P(worse).
* ``bootstrap``: datasets resampled with replacement (seeded): P(the reference ranks first), a
  95 % percentile interval of each method's average rank; leave-one-dataset-out extremes.
* ``conventions``: the missing-result rule (shared, ordered, drop the dataset), the size
  threshold, a minimum test-set size: the reference's average rank, place and stars under each.
* ``granularity``: per dataset, the test rows between the reference and its best competitor
  (accuracy difference x test rows, ``reference.uci_test_rows``); the share of its wins decided
  by one or two rows.

A verdict paragraph is generated from these numbers (:func:`verdict`). Nothing here is written
by hand about the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from snnbench import reference
from snnbench.atomic import atomic_write_bytes, atomic_write_csv
from snnbench.benchmarks.uci.selection_sensitivity import selection_sensitivity
from snnbench.benchmarks.uci.split_table import split_soundness
from snnbench.benchmarks.uci.stats import uci_data
from snnbench.errors import DataError
from snnbench.evaluation.comparisons import (
    bayesian,
    bootstrap,
    granularity,
    leave_one_out,
    multiple_comparisons,
    omnibus,
    others_than,
    rank_summary,
)
from snnbench.evaluation.stats import average_ranks, size_groups
from snnbench.settings import RobustnessSettings, StatsSettings

FIGURES = "robustness_figures"  # the figures' folder beside robustness.md
SOURCES = {"paper_check": "the paper's published numbers", "uci": "our runs"}  # results folder -> whose scores


def read_verdict(md: Path) -> str:
    """The verdict paragraph of a written robustness.md (its first line after the title)."""
    return next((line for line in md.read_text().splitlines()[1:] if line.strip()), "")


@dataclass
class ScoreTable:
    """What the report runs on: per-dataset accuracies of the 7 FNNs (``fnn``, the reference first)
    and of 24 methods (the 7 FNNs and Fernandez-Delgado et al.'s 17; None if not available), the
    dataset sizes N and the test-set rows."""

    source: str  # "published" or "ours"
    fnn: pd.DataFrame
    all24: pd.DataFrame | None
    sizes: pd.Series
    test_rows: pd.Series
    notes: list[str] = field(default_factory=list)
    split_columns: tuple[int, ...] = (0,)  # the data_py split columns the scores come from


def published_table() -> ScoreTable:
    a11 = reference.table_a11()
    return ScoreTable("published", a11[list(reference.FNN_METHODS)], reference.published_24_accuracies(),
                      a11["N"], reference.uci_test_rows(),
                      ["Table A11 (7 FNNs, 121 UCI datasets) and Fernandez-Delgado et al.'s accuracies of the 17 "
                       "family representatives (their 4-fold protocol)"])


def ours_table(scores: pd.DataFrame) -> ScoreTable:
    """Our torch methods' accuracies (mean over the splits trained), with the 17 published
    representatives beside them for the 24-method comparisons."""

    data = uci_data(scores)
    return ScoreTable("ours", data.acc, data.acc24, reference.table_a11()["N"].reindex(data.acc.index),
                      reference.uci_test_rows().reindex(data.acc.index),
                      [f"our runs: {len(data.acc)} UCI datasets with a result, split column(s) "
                       f"{', '.join(data.splits)}; "
                       "the 24-method comparisons add Fernandez-Delgado et al.'s 17 published representatives"],
                      split_columns=tuple(int(c) for c in data.splits))


# --- sections ------------------------------------------------------------------------------------


def conventions(table: ScoreTable, ref: str, *, settings: RobustnessSettings, stats: StatsSettings) -> pd.DataFrame:
    """The reference's average rank, place and stars under each convention the paper leaves open."""
    rows = []
    for rule in ("shared", "ordered", "drop"):
        rows.append({"convention": "missing results", "variant": rule, "family": "7 FNNs", "group": "all",
                     **rank_summary(table.fnn, ref, stats=stats, missing=rule)})
    for threshold in settings.size_thresholds:
        groups = size_groups(table.sizes.reindex(table.fnn.index), small_n=threshold)
        for group in ("small", "large"):
            for family, acc in (("7 FNNs", table.fnn), ("24 methods", table.all24)):
                sub = acc.loc[groups[group]] if acc is not None else None
                if sub is None or len(sub.dropna(how="all")) < 2:
                    continue
                rows.append({"convention": "size threshold", "variant": f"N < {threshold} small", "family": family,
                             "group": group, **rank_summary(sub, ref, stats=stats)})
    for minimum in settings.min_test_rows:
        keep = table.test_rows.reindex(table.fnn.index).fillna(0) >= minimum
        if keep.sum() >= 2:
            rows.append({"convention": "minimum test rows", "variant": f">= {minimum} test rows", "family": "7 FNNs",
                         "group": "all", **rank_summary(table.fnn.loc[keep], ref, stats=stats)})
    rows += sound_splits(table, ref, stats=stats)
    return pd.DataFrame(rows)


def unsound_datasets(table: ScoreTable) -> tuple[list[str], list[str]]:
    """The datasets of ``table`` whose split (its columns) leaves a class out of training, validation
    or test, and those the shipped split table cannot say (``split_table.split_soundness``)."""
    sound = split_soundness(table.split_columns).reindex(table.fnn.dropna(how="all").index)
    return sorted(sound.index[sound == False]), sorted(sound.index[sound.isna()])  # noqa: E712 (nullable)


def sound_splits(table: ScoreTable, ref: str, *, stats: StatsSettings) -> list[dict]:
    """The reference's rank, place and stars on the datasets whose splits keep every class in
    every part, for the 7 FNNs and (where available) the 24 methods; unknown soundness is dropped."""
    unsound, unknown = unsound_datasets(table)
    keep = table.fnn.index.difference(unsound + unknown)
    rows = []
    for family, acc in (("7 FNNs", table.fnn), ("24 methods", table.all24)):
        if acc is None or len(acc.reindex(keep).dropna(how="all")) < 2:
            continue
        rows.append({"convention": "sound splits only",
                     "variant": f"{len(unsound)} unsound and {len(unknown)} unknown dropped", "family": family,
                     "group": "all", **rank_summary(acc.reindex(keep).dropna(how="all"), ref, stats=stats)})
    return rows


def unsound_caption(table: ScoreTable) -> str:
    """What a caption says about the splits of the datasets used."""
    unsound, unknown = unsound_datasets(table)
    columns = ", ".join(map(str, table.split_columns))
    text = (f"{len(unsound)} of the {len(table.fnn.dropna(how='all'))} datasets used have a split (data_py column "
            f"{columns}) that leaves a class out of training, validation or test")
    return text + (f"; soundness unknown for {', '.join(unknown)} (not prepared)" if unknown else "")


# --- the whole report ----------------------------------------------------------------------------


@dataclass
class Robustness:
    table: ScoreTable
    reference: str
    settings: RobustnessSettings
    stats: StatsSettings
    multiple: dict[str, pd.DataFrame] = field(default_factory=dict)  # size group -> the reference against each FNN
    omnibus: dict[tuple[str, str], tuple[dict, pd.DataFrame] | str] = field(default_factory=dict)  # or why not
    diagrams: dict[tuple[str, str], dict] = field(default_factory=dict)  # stats.critical_difference's outputs
    bayes: pd.DataFrame = field(default_factory=pd.DataFrame)
    posterior: dict[str, np.ndarray] = field(default_factory=dict)
    boot: dict[tuple[str, str], tuple[dict, pd.DataFrame]] = field(default_factory=dict)
    loo: tuple[dict, pd.DataFrame] | None = None
    conventions: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_dataset: pd.DataFrame = field(default_factory=pd.DataFrame)
    wins: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection: pd.DataFrame | None = None  # selection_sensitivity's per-variant table (our runs only)
    selection_jobs: pd.DataFrame | None = None  # ... and its per-job test metrics
    not_computed: str = ""  # why no section could be computed (not_computable), else empty

    def rows(self) -> pd.DataFrame:
        """Every number as one long table: robustness.csv (one ``not_computed`` row saying why, if none)."""
        if self.not_computed:
            return pd.DataFrame([{"source": self.table.source, "reference": self.reference,
                                  "section": "not_computed", "error": self.not_computed}])
        parts = []

        def add(section: str, frame: pd.DataFrame, **labels) -> None:
            frame = frame.copy()
            for i, (key, value) in enumerate(labels.items()):
                frame.insert(i, key, value)
            frame.insert(0, "section", section)
            parts.append(frame)

        for group, frame in self.multiple.items():
            add("multiple_comparisons", frame, family="7 FNNs", group=group)
        for (family, group), found in self.omnibus.items():
            if isinstance(found, str):
                add("omnibus", pd.DataFrame([{"error": found}]), family=family, group=group)
                continue
            result, frame = found
            add("omnibus", pd.DataFrame([{"method": "", **result}]), family=family, group=group)
            add("omnibus", frame, family=family, group=group)
        add("bayesian", self.bayes, family="7 FNNs", group="all")
        for (family, group), (result, frame) in self.boot.items():
            add("bootstrap", frame.assign(reference_p_first=result["p_first"], draws=result["draws"]),
                family=family, group=group)
        add("leave_one_out", self.loo[1].assign(**{f"reference_{k}": v for k, v in self.loo[0].items()}),
            family="7 FNNs", group="all")
        add("conventions", self.conventions)
        add("granularity", self.wins, family="7 FNNs", group="all")
        if self.selection is not None:
            add("selection_sensitivity", self.selection, family="7 FNNs", group="all")
            add("selection_sensitivity_jobs", self.selection_jobs, family="7 FNNs", group="all")
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "source", self.table.source)
        out.insert(1, "reference", self.reference)
        return out


def not_computable(table: ScoreTable, ref: str) -> str:
    """Why the robustness report cannot be computed on ``table`` with reference ``ref`` (every
    section compares the reference with another FNN over at least two datasets), or ''."""
    whose = "the published scores" if table.source == "published" else "our scores"
    having = [m for m in table.fnn.columns if table.fnn[m].notna().any()]
    without = [m for m in table.fnn.columns if m not in having]
    lacking = f" ({', '.join(without)}: no result)" if without else ""
    if ref not in having:
        return (f"robustness.reference={ref} has no result in {whose}; FNNs with results: "
                f"{', '.join(having) or 'none'}{lacking}")
    if len(having) < 2:
        return f"needs at least two FNN methods with results; only {ref} has results in {whose}{lacking}"
    n_ref = int(table.fnn[ref].notna().sum())
    if n_ref < 2:
        return (f"needs at least two datasets where {ref} has a result; {whose} have {n_ref} "
                f"({', '.join(table.fnn.index[table.fnn[ref].notna()])})")
    return ""


def robustness(table: ScoreTable, *, settings: RobustnessSettings = RobustnessSettings(),
               stats: StatsSettings = StatsSettings()) -> Robustness:

    ref = settings.reference
    why = not_computable(table, ref)
    if why:
        return Robustness(table, ref, settings, stats, not_computed=why)
    from dataclasses import replace

    fnn = table.fnn[[ref, *others_than(table.fnn, ref)]]
    table = replace(table, fnn=fnn)  # the reference first; the caller's table is left as it was
    groups = size_groups(table.sizes.reindex(fnn.index))
    multiple = {g: multiple_comparisons(fnn.loc[groups[g]], ref, stats=stats)
                for g in ("all", "small", "large") if fnn.loc[groups[g], ref].notna().sum() >= 1}
    omni: dict = {}
    diagrams: dict = {}
    boot: dict = {}
    for family, group in (("7 FNNs", "all"), ("7 FNNs", "small"), ("7 FNNs", "large"),
                          ("24 methods", "small"), ("24 methods", "large")):
        acc = fnn if family == "7 FNNs" else table.all24
        if acc is None:
            continue
        sub = acc.loc[acc.index.intersection(groups[group])]
        try:
            result, frame, diagrams[(family, group)] = omnibus(sub, ref, alpha=stats.alpha)
            omni[(family, group)] = (result, frame)
        except ValueError as exc:
            omni[(family, group)] = str(exc)
        if len(sub.dropna(how="all")) >= 2:
            boot[(family, group)] = bootstrap(sub, ref, settings=settings, missing=stats.missing)
    bayes, posterior = bayesian(fnn, ref, settings=settings)
    per_dataset, wins = granularity(fnn, ref, table.test_rows)
    return Robustness(table, ref, settings, stats, multiple=multiple, omnibus=omni, diagrams=diagrams, bayes=bayes,
                      posterior=posterior, boot=boot, loo=leave_one_out(fnn, ref, stats=stats),
                      conventions=conventions(table, ref, settings=settings, stats=stats), per_dataset=per_dataset,
                      wins=wins)


# --- the verdict, the markdown and the figures --------------------------------------------------


def _names(frame: pd.DataFrame, mask) -> str:
    names = list(frame.loc[mask, "method"])
    return ", ".join(names) if names else "none"


def verdict(r: Robustness) -> str:
    """One plain-language paragraph, every figure in it read from ``r``."""
    ref, table = r.reference, r.table
    if r.not_computed:
        return f"Not computed on {'the published' if table.source == 'published' else 'our'} scores: {r.not_computed}."
    m = r.multiple["all"]
    n, n_ref = len(table.fnn.dropna(how="all")), int(table.fnn[ref].notna().sum())
    k = len(m)
    boot = r.boot.get(("7 FNNs", "all"))
    place = r.loo[0]
    whose = "the published" if table.source == "published" else "our"
    text = [f"On {whose} scores ({n} UCI datasets; {ref} has a result on {n_ref}), {ref} "]
    means = average_ranks(table.fnn, missing=r.stats.missing)
    runner = means.drop(ref).idxmin()
    text.append(f"has average rank {means[ref]:.2f} of {len(means)} FNNs ("
                + ("runner-up" if means[ref] <= means[runner] else "best") + f" {runner}: {means[runner]:.2f}). ")
    if n < 10:
        text.append(f"With {n} datasets these procedures have little power: read what follows as a demonstration. ")
    text.append(f"The paper's unadjusted one-sided Wilcoxon tests star {int(m['star'].sum())} of {k} comparisons; "
                f"Holm keeps {int(m['star_holm'].sum())} and Bonferroni {int(m['star_bonferroni'].sum())}"
                + (f" (Bonferroni drops {_names(m, m['star'] & ~m['star_bonferroni'])})"
                   if (m["star"] & ~m["star_bonferroni"]).any() else "") + ". ")
    found = r.omnibus.get(("7 FNNs", "all"))
    if isinstance(found, tuple):
        result, frame = found
        text.append(f"Friedman's test {'rejects' if result['p_value'] < r.stats.alpha else 'does not reject'} equal "
                    f"ranks (p = {result['p_value']:.2g}; Iman-Davenport p = {result['p_iman_davenport']:.2g}); "
                    f"Nemenyi's critical difference is {result['cd_nemenyi']:.2f} ranks on {result['n_datasets']} "
                    f"complete datasets, and {ref}'s lead exceeds it over {_names(frame, frame['exceeds_cd'])}"
                    + (f" but not over {_names(frame, ~frame['exceeds_cd'])}" if frame["exceeds_cd"].any()
                       else " of them")
                    + f"; the Holm post-hoc against {ref} "
                    f"finds {int(frame['significant_control_holm'].sum())} of {len(frame)} differences. ")
    b = r.bayes
    text.append(f"The Bayesian signed-rank test (rope {r.settings.rope:g} accuracy) gives P({ref} better) >= 0.95 "
                f"against {_names(b, b['p_better'] >= 0.95)}; below 0.95 against {_names(b, b['p_better'] < 0.95)} "
                f"(largest P(practically equivalent): {b['p_equivalent'].max():.2f}, "
                f"{b.loc[b['p_equivalent'].idxmax(), 'method']}). ")
    if boot:
        text.append(f"Resampling the datasets ({boot[0]['draws']} draws), {ref} ranks first in "
                    f"{boot[0]['p_first']:.0%} of them")
        large = r.boot.get(("24 methods", "large"))
        text.append(f" (first of 24 on the large datasets in {large[0]['p_first']:.0%})" if large else "")
        text.append("; it stays first whichever single dataset is left out. " if place["worst_place"] == 1 else
                    f"; leaving out one dataset, its place ranges {place['best_place']}-{place['worst_place']}. ")
    w = r.wins.iloc[0]
    if w["wins"]:
        text.append(f"Of its {int(w['wins'])} wins over the best competitor, {int(w['wins_by_1_or_2_rows'])} "
                    f"({w['share_of_wins_by_1_or_2_rows']:.0%}) are by one or two test rows. ")
    sound = r.conventions[(r.conventions["convention"] == "sound splits only")
                          & (r.conventions["family"] == "7 FNNs")] if len(r.conventions) else r.conventions
    if len(sound):
        c = sound.iloc[0]
        text.append(f"On the {int(c['n_datasets'])} datasets whose splits keep every class in every part, {ref} has "
                    f"average rank {c['avg_rank']:.2f} (place {int(c['place'])}) and {int(c['stars'])} of "
                    f"{int(c['of'])} stars. ")
    short = []
    if not m["star_bonferroni"].all():
        short.append(f"loses significance under Bonferroni against {_names(m, ~m['star_bonferroni'])}")
    if isinstance(found, tuple) and not found[1]["exceeds_cd"].all():
        short.append("falls short of Nemenyi's critical difference against "
                     f"{_names(found[1], ~found[1]['exceeds_cd'])}")
    if not (b["p_better"] >= 0.95).all():
        short.append(f"is not credible at 0.95 in the Bayesian test against {_names(b, b['p_better'] < 0.95)}")
    first = boot is not None and boot[0]["p_first"] >= 0.5
    if first and not short and boot[0]["p_first"] >= 0.95 and isinstance(found, tuple):
        text.append("Verdict: the conclusion holds under every procedure tried.")
    elif first:
        text.append(f"Verdict: {ref} ranks first in most resamples, but its advantage " + "; ".join(short or [
            "is uncertain in the resamples"]) + f": the ranking is supported, \"{ref} is significantly better than "
                    "each FNN\" only in part.")
    else:
        text.append(f"Verdict: these scores do not support {ref} ranking first.")
    return "".join(text)


def _md(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".4g")


def write_robustness(r: Robustness, out_dir: str | Path) -> dict[str, Path]:
    """robustness.csv (every number), robustness.md (the verdict and a captioned table per
    section), robustness_per_dataset.csv, and the figures under robustness_figures/."""

    out = Path(out_dir)
    source = r.table.source
    cite = "; ".join(r.table.notes)
    paths = {"csv": out / "robustness.csv", "md": out / "robustness.md",
             "per_dataset": out / "robustness_per_dataset.csv"}
    atomic_write_csv(paths["csv"], r.rows())
    atomic_write_csv(paths["per_dataset"], r.per_dataset)
    alpha = r.stats.alpha
    whose = "the published scores" if source == "published" else "our scores"
    if r.not_computed:
        (out / FIGURES).mkdir(parents=True, exist_ok=True)  # the workflow's output, empty
        lines = [f"# Robustness of the UCI conclusion ({whose})", "", verdict(r), "", f"Source: {cite}.", ""]
        atomic_write_bytes(paths["md"], lambda f: f.write("\n".join(lines).encode()))
        return paths
    lines = [f"# Robustness of the UCI conclusion ({whose})", "", verdict(r), "",
             f"Source: {cite}. Reference: {r.reference}. Statistics settings: wilcoxon={r.stats.wilcoxon}, "
             f"alpha={alpha:g}, missing={r.stats.missing}; robustness settings: rope={r.settings.rope:g}, "
             f"bayes_samples={r.settings.bayes_samples}, draws={r.settings.draws}, seed={r.settings.seed} "
             f"(docs/protocol.md S9). {unsound_caption(r.table)} (results/data/summary.csv's split_sound). "
             "Every number: robustness.csv.", ""]
    for group, frame in r.multiple.items():
        lines += [f"## Multiple comparisons, {group} datasets", "",
                  f"{r.reference} against each FNN: one-sided paired Wilcoxon p (the paper's test, unadjusted star at "
                  f"p < {alpha:g}), Holm- and Bonferroni-adjusted over the {len(frame)} comparisons; "
                  "a star is kept where the adjusted p stays below alpha.", "", _md(frame), ""]
    for (family, group), found in r.omnibus.items():
        lines += [f"## Friedman, Nemenyi and post-hoc against {r.reference}: {family}, {group} datasets", ""]
        if isinstance(found, str):
            lines += [f"Not computed: {found}", ""]
            continue
        result, frame = found
        lines += [f"Friedman chi2 = {result['statistic']:.4g} (p = {result['p_value']:.3g}), Iman-Davenport F = "
                  f"{result['f_iman_davenport']:.4g} (p = {result['p_iman_davenport']:.3g}) on "
                  f"{result['n_datasets']} datasets with every method ({result['n_dropped']} dropped for a missing "
                  f"result); Nemenyi's critical difference at alpha {alpha:g}: {result['cd_nemenyi']:.3f} ranks. "
                  "rank_difference: the method's "
                  f"average rank minus {r.reference}'s; p_nemenyi: pairwise (scikit-posthocs); p_control: two-sided "
                  f"z-test against {r.reference} as the control (Demsar 2006), Holm-adjusted in p_control_holm.", "",
                  _md(frame), ""]
    lines += ["## Bayesian signed-rank test, all datasets", "",
              f"Benavoli et al. (2017), baycomp's SignedRankTest (prior 0.5 at a zero difference), "
              f"{r.settings.bayes_samples} posterior samples, seed {r.settings.seed}: the probability that "
              f"{r.reference} is better by more than {r.settings.rope:g} accuracy, practically equivalent, or worse. "
              "robustness_figures/robustness_posterior.png.", "", _md(r.bayes), ""]
    for (family, group), (result, frame) in r.boot.items():
        lines += [f"## Bootstrap over datasets: {family}, {group} datasets", "",
                  f"{result['draws']} resamples of the {result['n_datasets']} datasets with replacement (seed "
                  f"{r.settings.seed}): P({r.reference} ranks first) = {result['p_first']:.3f}; each method's average "
                  "rank with a 95 % percentile interval, and its probability of ranking first.", "", _md(frame), ""]
    summary, loo = r.loo
    lines += ["## Leave one dataset out", "",
              f"Each of the {summary['n_datasets']} datasets left out in turn: {r.reference}'s place ranges "
              f"{summary['best_place']}-{summary['worst_place']}, its lead over the runner-up "
              f"{summary['min_lead']:.3f}-{summary['max_lead']:.3f} ranks; per method, the largest Wilcoxon p "
              "after one removal and the dataset removed.", "", _md(loo), ""]
    lines += ["## Conventions the paper leaves open", "",
              f"{r.reference}'s average rank, place and unadjusted stars under each: the missing-result rule "
              "(shared last places, in column order, or the dataset dropped), the small / large threshold, and a "
              "minimum test-set size, and sound splits only (the datasets whose split keeps every class in "
              "training, validation and test; src/snnbench/benchmarks/uci/split_classes.tsv).", "",
              _md(r.conventions), ""]
    lines += ["## Granularity", "",
              f"Test rows between {r.reference} and each competitor: accuracy difference x test rows (data_py "
              "split column 0), rounded. Wins decided by one or two test rows could flip with one or two "
              "predictions. Per dataset: robustness_per_dataset.csv.", "", _md(r.wins), ""]
    if r.selection is not None:
        lines += selection_lines(r)
    atomic_write_bytes(paths["md"], lambda f: f.write("\n".join(lines).encode()))
    paths.update(write_robustness_figures(r, out / FIGURES))
    return paths


def selection_lines(r: Robustness) -> list[str]:
    """The selection-sensitivity section of robustness.md."""
    frame = r.selection
    lacking = frame.loc[frame["jobs_lacking_test"] > 0, "variant"].tolist()
    curve = ", ".join(sorted(set(r.selection_jobs["test_curve"].dropna().astype(str))))
    text = (f"Every training job of the FNNs re-selected from its saved curves, without retraining "
            f"(docs/protocol.md F16): the smoothing window and alignment, the tie rule between configurations, "
            f"the last epoch instead of the early-stopping one, and the test-set oracle as an upper bound. Per "
            f"variant: the jobs whose selected test metric changed from the run's own selection, the datasets "
            f"they are on, and {r.reference}'s average rank, place and unadjusted stars over the FNNs. "
            f"The runs saved test_curve: {curve}.")
    if lacking:
        text += (f" The curves lack the test value some jobs need under: {', '.join(lacking)} (not ranked; "
                 "`train.test_curve: every_epoch` saves the test metric after every epoch and gives all).")
    shown = frame.drop(columns=[c for c in ("window", "align", "tie_rule", "epoch") if c in frame])
    return ["## Selection sensitivity (our runs' saved curves)", "", text + " Per job: robustness.csv "
            "(section selection_sensitivity_jobs).", "", _md(shown), ""]


def write_robustness_figures(r: Robustness, folder: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp


    def save(fig, name: str) -> Path:
        import io

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        path = folder / f"{name}.png"
        atomic_write_bytes(path, lambda f: f.write(buffer.getvalue()))
        return path

    paths = {}
    # the posterior of the Bayesian signed-rank test, one simplex per comparison
    methods = list(r.posterior)
    cols = 3
    fig, axes = plt.subplots(math.ceil(len(methods) / cols), cols,
                             figsize=(4 * cols, 3.6 * math.ceil(len(methods) / cols)), squeeze=False)
    corners = np.array([[0.0, 0.0], [0.5, math.sqrt(3) / 2], [1.0, 0.0]])  # better, equivalent, worse
    for ax, m in zip(axes.flat, methods):
        sample = r.posterior[m][:: max(1, len(r.posterior[m]) // 3000)]
        points = sample @ corners
        row = r.bayes.set_index("method").loc[m]
        ax.plot(*np.vstack([corners, corners[:1]]).T, color="black", lw=0.8)
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.3, color="tab:blue")
        for (x, y), label in zip(corners, (f"{r.reference} better\n{row['p_better']:.3f}",
                                           f"equivalent\n{row['p_equivalent']:.3f}",
                                           f"{m} better\n{row['p_worse']:.3f}")):
            ax.annotate(label, (x, y), ha="center", va="bottom" if y > 0 else "top", fontsize=8,
                        xytext=(0, 4 if y > 0 else -4), textcoords="offset points")
        ax.set_title(f"{r.reference} vs {m} ({int(row['n_datasets'])} datasets)", fontsize=9)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.25, 1.05)
        ax.set_axis_off()
    for ax in list(axes.flat)[len(methods):]:
        ax.set_axis_off()
    fig.suptitle(f"Bayesian signed-rank posterior ({r.table.source} scores, rope {r.settings.rope:g})", fontsize=10)
    paths["posterior"] = save(fig, "robustness_posterior")
    # bootstrap intervals of the average ranks
    frames = [(key, frame) for key, (_, frame) in r.boot.items() if key[0] == "7 FNNs"]
    if frames:
        fig, axes = plt.subplots(1, len(frames), figsize=(4.2 * len(frames), 3.4), squeeze=False)
        for ax, ((family, group), frame) in zip(axes.flat, frames):
            y = np.arange(len(frame))[::-1]
            colours = ["tab:red" if m == r.reference else "tab:blue" for m in frame["method"]]
            for yi, colour, row in zip(y, colours, frame.itertuples()):
                ax.errorbar(row.avg_rank, yi, xerr=[[row.avg_rank - row.ci_low], [row.ci_high - row.avg_rank]],
                            fmt="none", ecolor=colour, capsize=3)
            ax.scatter(frame["avg_rank"], y, color=colours, zorder=3)
            ax.set_yticks(y, frame["method"], fontsize=8)
            ax.set_xlabel("average rank (1 = best), 95 % bootstrap interval", fontsize=8)
            ax.set_title(f"{family}, {group} datasets: P({r.reference} first) = "
                         f"{r.boot[(family, group)][0]['p_first']:.2f}", fontsize=9)
        paths["bootstrap"] = save(fig, "robustness_bootstrap")
    # critical-difference diagrams
    for (family, group), diagram in r.diagrams.items():
        ranks = diagram["ranks"]
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(ranks) + 1.8))
        sp.critical_difference_diagram(ranks, diagram["p_values"], ax=ax, cd=diagram["cd"], alpha=r.stats.alpha,
                                       color_palette={m: ("tab:red" if m == r.reference else "tab:gray")
                                                      for m in ranks.index})
        ax.set_xlabel(f"average rank (1 = best); CD: Nemenyi's critical difference at alpha {r.stats.alpha:g}",
                      fontsize=8)
        ax.set_title(f"{family}, {group} datasets ({diagram['n_datasets']} with every method), {r.table.source} scores",
                     fontsize=9)
        key = f"cd_{family.split()[0]}_{group}"
        paths[key] = save(fig, f"robustness_{key}")
    return paths


def robustness_report(scores: pd.DataFrame | None, *, settings: RobustnessSettings, stats: StatsSettings,
                      out_dir: str | Path, train_dir: str | Path | None = None) -> tuple[Robustness, dict[str, Path]]:
    """The robustness report on our ``scores`` (None: the paper's published numbers), written
    under ``out_dir``; the report and the paths written. ``train_dir`` (our runs' UCI training
    results, ``results/train/uci``) adds the selection sensitivity."""
    from dataclasses import replace

    table = published_table() if scores is None else ours_table(scores)
    report = robustness(table, settings=settings, stats=stats)
    if train_dir is not None and not report.not_computed:
        try:
            found, jobs = selection_sensitivity(train_dir, reference_method=report.reference, stats=stats,
                                                seed=settings.seed)
            report = replace(report, selection=found, selection_jobs=jobs)
        except DataError:  # no paper FNN trained here (a user's methods only): nothing to re-select
            pass
    return report, write_robustness(report, out_dir)
