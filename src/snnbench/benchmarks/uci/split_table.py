"""``split_classes.tsv`` beside this file: per UCI dataset and data_py split column, the classes absent
from its training, validation and test parts (:func:`data.split_classes`), so that reports on the
published numbers can say which splits are sound without preparing the data.

Regenerate from a folder of prepared UCI datasets (``<prepared_dir>/uci``)::

    python -m snnbench.benchmarks.uci.split_table data/prepared/uci

A dataset not prepared ok there keeps no row: :func:`split_soundness` reports it as unknown.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd

from snnbench.atomic import atomic_write_bytes
from snnbench.benchmarks.uci.data import dataset_names, split_classes
from snnbench.contracts.prepared import PreparedDataset, read_card

TABLE = "split_classes.tsv"
PARTS = ("training", "validation", "test")
COLUMNS = ("dataset", "column", "sound", *(f"missing_{p}" for p in PARTS))


def _classes(values: list[int]) -> str:
    return " ".join(str(c) for c in values)


def table_rows(name: str, entries: list[dict]) -> list[dict]:
    """The TSV rows of one dataset, from its card's ``split_classes``."""
    return [{"dataset": name, "column": e["column"], "sound": e["sound"],
             **{f"missing_{p}": _classes(e["missing"][p]) for p in PARTS}} for e in entries]


def build(prepared_uci: str | Path) -> pd.DataFrame:
    rows = []
    for name in dataset_names():
        card = Path(prepared_uci) / f"{name}.json"
        if not card.is_file() or read_card(card)["status"] != "ok":
            continue
        data = PreparedDataset.load(card)
        rows += table_rows(name, split_classes(data["y"], data["test_folds"], data["validation_folds"]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


@cache
def split_table() -> pd.DataFrame:
    """The shipped table (missing classes as space-separated class ids, "" for none)."""
    text = resources.files("snnbench.benchmarks.uci").joinpath(TABLE).read_text()
    from io import StringIO

    return pd.read_csv(StringIO(text), sep="\t", keep_default_na=False, dtype={f"missing_{p}": str for p in PARTS})


def split_soundness(columns: tuple[int, ...] = (0,)) -> pd.Series:
    """Per dataset of the 121: True where every class is in every part of every split column in
    ``columns``, False where one is not, NA where the table has no row (not prepared when it was made)."""
    t = split_table()
    t = t[t["column"].isin(columns)]
    sound = t.groupby("dataset")["sound"].all()
    return pd.Series({n: bool(sound[n]) if n in sound.index else pd.NA for n in dataset_names()}, dtype="boolean")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    frame = build(args[0])
    out = Path(__file__).with_name(TABLE)
    atomic_write_bytes(out, lambda f: f.write(frame.to_csv(sep="\t", index=False).encode()))
    print(f"{out}: {frame['dataset'].nunique()} datasets, {len(frame)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
