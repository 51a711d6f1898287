"""Caption text shared by every benchmark's tables: deviations, statistics, narrowed grids, untestable rows."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from snnbench.contracts.scores import ours as ours_rows
from snnbench.reference import paper_grids
from snnbench.settings import StatsSettings
from snnbench.training.grids import grid_size


def narrowed_text(scores: pd.DataFrame | None, benchmark: str) -> str | None:
    """Which of the paper's families ran fewer configurations than the paper's grid (train.narrow)."""

    if scores is None or "n_configs" not in scores:
        return None
    ours = ours_rows(scores, per_job=True)
    paper = paper_grids().get(benchmark, {})
    ran = ours.groupby("method")["n_configs"].max()
    cut = [f"{m} {int(n)} of {grid_size(paper[m])}" for m, n in ran.items()
           if m in paper and 0 < n < grid_size(paper[m])]
    return f"grids narrowed (train.narrow; configurations run of the paper's): {', '.join(cut)}" if cut else None


def _setting(value: Any) -> str:
    """A setting's value as the config file writes it (booleans as YAML's true/false)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def deviations_text(settings: dict[str, Any] | None, *, notes: tuple[str, ...],
                    scores: pd.DataFrame | None, benchmark: str) -> str:
    """The caption's list of deviations: the benchmark's data notes, what the run changed of the
    paper's stated protocol (a narrowed grid, a stated setting, a training subset), and the
    settings the paper leaves open."""
    parts = list(notes)
    narrowed = narrowed_text(scores, benchmark)
    if narrowed:
        parts.append(narrowed)
    if settings:
        changed = [f"{k}={_setting(settings[k])} (the paper: {_setting(v)})" for k, v in STATED_SETTINGS.items()
                   if k in settings and settings[k] != v]
        if changed:
            parts.append(f"changed from the paper's stated protocol: {', '.join(changed)}")
        if settings.get("max_train_rows"):
            parts.append(f"trained on a seeded subset of at most {settings['max_train_rows']} training rows "
                         "(train.subsample: a quick tour, not a reproduction)")
        chosen = ", ".join(f"{k}={_setting(settings[k])}" for k in CAPTION_SETTINGS if k in settings)
        parts.append(f"settings the paper leaves open: {chosen}")
    return "Deviations: " + "; ".join(parts) + " (every entry: docs/protocol.md)."


NULL_DISTRIBUTIONS = {"exact-if-small": ("exact null distribution up to 50 non-zero differences, "
                                         "normal approximation above"),
                      "exact": "exact null distribution", "asymptotic": "normal approximation",
                      "auto": ("exact null distribution up to 50 non-zero differences without ties or zeros, "
                               "normal approximation otherwise (scipy's auto)"),
                      "r-default": ("R's wilcox.test rule: exact below 50 non-zero differences without ties or "
                                    "zeros, normal approximation with continuity correction otherwise")}


def stats_text(stats: StatsSettings, *, against: str = "the best-ranked method") -> str:
    """The caption's sentence on how the statistics were computed (the config's stats section)."""
    return (f"Statistics: one-sided paired Wilcoxon signed-rank tests against "
            f"{against if stats.reference == 'best' else stats.reference} ({NULL_DISTRIBUTIONS[stats.wilcoxon]}), "
            f"star at p < {stats.alpha:g}, missing results ranked last ({stats.missing}); docs/protocol.md S1, S2.")


def min_pairs(alpha: float, *, tests: int = 1) -> int:
    """The fewest paired datasets at which a one-sided signed-rank test can reach p < alpha: its
    smallest p-value with n pairs is 2^-n; Holm-adjusted over ``tests`` tests, the smallest
    adjusted one is ``tests`` x 2^-n."""
    return max(1, math.floor(math.log2(tests / alpha)) + 1)


def hide_untestable(frame: pd.DataFrame, alpha: float) -> tuple[pd.DataFrame, str]:
    """The table with the p-values blanked where too few datasets are paired to reach ``alpha``
    (the statistics file keeps them), and the caption's sentence saying so ('' if none)."""
    n = min_pairs(alpha)
    few = frame["n_datasets"].notna() & (frame["n_datasets"] < n) if "n_datasets" in frame else None
    if few is None or not few.any():
        return frame, ""
    frame = frame.copy()
    for column in [c for c in frame.columns if c.startswith("p_")]:
        frame.loc[few, column] = float("nan")
    frame.loc[few, "star"] = False
    return frame, (f" Too few datasets for the test where fewer than {n} are paired ({int(few.sum())} row(s)): "
                   f"its smallest one-sided p-value is then 2^-n >= {alpha:g}, so no p-value is shown there.")


# The settings the paper leaves open that shape the results (docs/protocol.md M*, F*), and those it
# states, with its values: a run that changes one says so as a change, not as a choice.
CAPTION_SETTINGS = ("optimizer", "momentum", "batch_size", "loss", "smoothing_align", "refit", "conic_rounding",
                    "norm_position", "highway_width", "highway_gate_bias", "resnet_branch_init", "tf32", "seed")


STATED_SETTINGS = {"epochs": 100, "smoothing_window": 10}
