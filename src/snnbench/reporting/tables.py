"""Formatting shared by every benchmark's tables: numbers, the Markdown and CSV pair, methods by kind."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from snnbench import methods
from snnbench.atomic import atomic_write_bytes, atomic_write_csv
from snnbench.contracts.scores import ours as ours_rows
from snnbench.errors import ConfigError
from snnbench.methods.paper import FAMILIES


def methods_of_kind(scores: pd.DataFrame, kind: str) -> list[str]:
    """Our methods of ``kind`` (torch, sklearn) in the scores, as their ``kind`` column says (the
    method registry where it is empty): the paper's families first, in their order, then the
    others in name order."""

    ours = ours_rows(scores)
    kinds = ours["kind"] if "kind" in ours else pd.Series(None, index=ours.index, dtype=object)
    found = set()
    for method, given in zip(ours["method"], kinds):
        if given is None or (isinstance(given, float) and math.isnan(given)):
            try:
                given = methods.get(method).kind
            except ConfigError:
                continue
        if given == kind:
            found.add(method)
    return [m for m in FAMILIES if m in found] + sorted(found - set(FAMILIES))


def format_numbers(frame: pd.DataFrame, decimals: int = 3) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col.startswith("p_") or col.endswith("_p"):
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.1e}")
        elif out[col].dtype.kind == "f":
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
        else:
            out[col] = out[col].map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))
                                    else v)
    return out


def write_table(frame: pd.DataFrame, stem: Path, caption: str, *, decimals: int = 3,
                shown: pd.DataFrame | None = None) -> list[Path]:
    """``frame`` as .csv (numbers); as .md and .tex with the caption, formatted to ``decimals``, or
    ``shown`` (already formatted text cells) where the printed layout differs from the numbers'."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    shown = format_numbers(frame, decimals) if shown is None else shown
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".md"), stem.with_suffix(".tex")]
    atomic_write_csv(paths[0], frame)
    md = f"{caption}\n\n{shown.to_markdown(index=False, disable_numparse=True)}\n"
    atomic_write_bytes(paths[1], lambda f: f.write(md.encode()))
    tex = shown.to_latex(index=False, caption=caption, label=f"tab:{stem.name}", escape=True)
    atomic_write_bytes(paths[2], lambda f: f.write(tex.encode()))
    return paths


MISSING = "—"
LABELS = {"avg_rank_minus_expected": "avg rank − expected", "avg_rank": "avg rank", "n_datasets": "datasets",
          "n_pairs": "pairs", "n_folds": "folds", "n_repeats": "repeats", "p_holm": "p (Holm)",
          "method_group": "group", "difference": "difference", "auc_mean": "AUC", "auc_std": "AUC sd",
          "published_mean": "published AUC", "published_std": "published sd",
          "p_value_vs_SNN": "p, SNN vs method (ours)", "published_p": "p, published"}


def is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def human_cell(value: object, column: str = "") -> str:
    """One value as a reader reads it: yes/no (stars: *), '—' where there is none, p-values to two
    significant digits, other numbers to three decimals."""
    if is_missing(value) or value == "":
        return MISSING
    star = "star" in column
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, str) and value in ("True", "False")):
        value = value in (True, "True")
        return ("*" if value else "") if star else ("yes" if value else "no")
    if star and value in ("yes", "no"):
        return "*" if value == "yes" else ""
    if isinstance(value, (float, np.floating)):
        if column.startswith("p") and ("p_" in column or column.endswith("_p") or column.startswith("p ")):
            return f"{value:.2g}"
        if float(value).is_integer() and abs(value) < 1e6:
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def ours_published_difference(frame: pd.DataFrame) -> pd.DataFrame:
    """A table with one value, its published value and the difference (UCI Table 1: the first value
    column and 'published'; HTRU2 Table 3: 'auc_mean', 'auc_std' and 'published_mean',
    'published_std'): those side by side after the labels, so that a narrow window shows ours, the
    paper's and the difference first."""
    if "difference" not in frame.columns:
        return frame
    labels = [c for c in frame.columns[:2] if not pd.api.types.is_numeric_dtype(frame[c])]
    if "published" in frame.columns:
        ours, published = [next(c for c in frame.columns if c not in labels)], ["published"]
    elif {"auc_mean", "published_mean"} <= set(frame.columns):
        ours, published = ["auc_mean", "auc_std"], ["published_mean", "published_std"]
    else:
        return frame
    first = [*labels, *ours, *published, "difference"]
    return frame[[c for c in first if c in frame.columns] + [c for c in frame.columns if c not in first]]


def with_star(p: object, star: object) -> str:
    text = human_cell(p, "p_value")
    return text + (" *" if text != MISSING and human_cell(star, "star") == "*" else "")


def single(values: pd.Series) -> str | None:
    found = values.dropna().unique()
    return str(found[0]) if len(found) == 1 else None
