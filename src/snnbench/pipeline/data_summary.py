"""``results/data/summary.csv``: one row per dataset of every benchmark, whatever its status."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from snnbench import benchmarks
from snnbench.atomic import atomic_write_csv
from snnbench.contracts.prepared import card_path, read_card
from snnbench.errors import SnnbenchError

COLUMNS = ("benchmark", "dataset", "n", "d", "classes", "size_group", "status", "reason", "feature_set", "checksum",
           "split_sound", "missing_training", "missing_validation", "missing_test")
SPLIT_PARTS = ("training", "validation", "test")
BENCHMARK_ORDER = {name: i for i, name in enumerate(benchmarks.BENCHMARKS)}


def summary_cards(prepared_dir: str | os.PathLike, *, datasets: dict | None = None,
                  cards: list[str | os.PathLike] = ()) -> list[Path]:
    """The cards to summarise: ``cards``, plus the run's ``datasets`` under ``prepared_dir``
    (``{benchmark: [dataset, ...] or "all"}``, what the workflow passes); neither: every card there."""
    paths = [Path(c) for c in cards]
    for b, names in (datasets or {}).items():
        chosen = benchmarks.dataset_names(b) if names == "all" else names
        paths += [card_path(prepared_dir, b, d) for d in chosen]
    paths = paths or sorted(Path(prepared_dir).glob("*/*.json"))
    if not paths:
        raise SnnbenchError(f"no dataset cards under {prepared_dir}; run `snnbench data prepare` first")
    return paths


def split_fields(card: dict, column: int = 0) -> dict:
    """``split_sound`` and the classes missing per part ("2 5": class ids) of split column ``column``
    (the paper's) from the card's ``split_classes``; empty for a benchmark whose cards have none."""
    entry = next((e for e in card.get("split_classes") or () if e["column"] == column), None)
    if entry is None:
        return {"split_sound": None, **{f"missing_{p}": "" for p in SPLIT_PARTS}}
    return {"split_sound": entry["sound"],
            **{f"missing_{p}": " ".join(str(c) for c in entry["missing"][p]) for p in SPLIT_PARTS}}


def summarize(cards: list[str | os.PathLike]):
    """A DataFrame with :data:`COLUMNS`, benchmarks in paper order, datasets sorted by name."""
    rows = []
    for path in cards:
        card = read_card(path)
        rows.append({
            "benchmark": card["benchmark"],
            "dataset": card["dataset"],
            "n": card.get("n"),
            "d": card.get("d"),
            "classes": card.get("classes"),
            "size_group": card.get("size_group"),
            "status": card["status"],
            "reason": card.get("reason") or "",
            "feature_set": card.get("feature_set") or "",
            "checksum": card.get("arrays_sha256") or "",
            **split_fields(card),
        })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("n", "d", "classes"):
        frame[col] = frame[col].astype("Int64")
    frame["split_sound"] = frame["split_sound"].astype("boolean")
    order = frame["benchmark"].map(BENCHMARK_ORDER).fillna(len(BENCHMARK_ORDER))
    return frame.assign(_o=order).sort_values(["_o", "dataset"]).drop(columns="_o").reset_index(drop=True)


def caption(summary, benchmark: str) -> str:
    """E.g. ``"120 of 121 datasets; miniboone unavailable"``: what a table built on them covers."""
    rows = summary[summary["benchmark"] == benchmark]
    ok = rows[rows["status"] == "ok"]
    text = f"{len(ok)} of {len(rows)} dataset{'s' if len(rows) != 1 else ''}"
    for status in ("unavailable", "failed"):
        names = rows.loc[rows["status"] == status, "dataset"].tolist()
        if names:
            text += f"; {', '.join(names)} {status}"
    return text


def write_summary(cards: list[str | os.PathLike], out: str | os.PathLike):
    frame = summarize(cards)
    atomic_write_csv(Path(out), frame)
    return frame
