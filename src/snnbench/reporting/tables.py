"""Formatting shared by every benchmark's tables: numbers, the Markdown and CSV pair, methods by kind."""

from __future__ import annotations

import math
from pathlib import Path

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
