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
           "split_columns", "split_sound", "missing_training", "missing_validation", "missing_test")
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


def split_fields(card: dict, columns: tuple[int, ...] = (0,)) -> dict:
    """``split_sound`` (every class in every part of each of the split ``columns``, those the run
    trains on) and the classes missing per part from the card's ``split_classes``: "2 5" (class
    ids) for one column, "1: 2 5; 3: 5" (column: ids) for several; empty for a benchmark whose cards
    have none (its splits are stratified folds or fixed sets)."""
    entries = {e["column"]: e for e in card.get("split_classes") or ()}
    used = [entries[c] for c in columns if c in entries]
    if not used:
        return {"split_columns": "", "split_sound": None, **{f"missing_{p}": "" for p in SPLIT_PARTS}}

    def missing(part: str) -> str:
        ids = [(e["column"], " ".join(str(c) for c in e["missing"][part])) for e in used]
        if len(used) == 1:
            return ids[0][1]
        return "; ".join(f"{column}: {text}" for column, text in ids if text)

    return {"split_columns": " ".join(str(e["column"]) for e in used),
            "split_sound": all(e["sound"] for e in used), **{f"missing_{p}": missing(p) for p in SPLIT_PARTS}}


def summarize(cards: list[str | os.PathLike], *, split_columns: dict[str, list[int]] | None = None):
    """A DataFrame with :data:`COLUMNS`, benchmarks in paper order, datasets sorted by name;
    ``split_columns`` ({benchmark: [column, ...]}, the run's, default column 0) are the split
    columns whose classes ``split_sound`` judges."""
    split_columns = split_columns or {}
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
            **split_fields(card, tuple(split_columns.get(card["benchmark"], (0,)))),
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


def write_summary(cards: list[str | os.PathLike], out: str | os.PathLike, *,
                  split_columns: dict[str, list[int]] | None = None):
    frame = summarize(cards, split_columns=split_columns)
    atomic_write_csv(Path(out), frame)
    return frame
