"""What report.html shows of the UCI front tables: Table 1 (left and right) in the paper's layout, every
p-value column under a header naming the method it is against (issue 24: our p-values were against our
best-ranked method, the published beside them against SNN, and nothing said so)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from snnbench.reporting.tables import LABELS, ours_published_difference, single, with_star


def _published_reference(frame: pd.DataFrame) -> str | None:
    """The method every published p-value of a table is against: the one with a published value and no p-value."""
    if not {"published", "published_p"} <= set(frame.columns):
        return None
    return single(frame.loc[frame["published"].notna() & frame["published_p"].isna(), "method"])


def rank_table_layout(frame: pd.DataFrame, against_snn: pd.DataFrame | None = None) -> pd.DataFrame:
    """A UCI rank table (Table 1 left and right, A12, A13) in the paper's layout: method, ours, published,
    difference, then each p-value with its star under a header naming the method it is against.
    ``against_snn``: our one-sided Wilcoxon tests of SNN against each method (the robustness report's
    multiple comparisons, columns method, p_value, star); where given, ours is against SNN like the paper's
    Table 1, and the best-ranked comparison of the table's .csv follows in its own labelled column."""
    frame = ours_published_difference(frame)
    value = next(c for c in frame.columns if c in ("avg_rank_minus_expected", "avg_rank"))
    out = pd.DataFrame({"method": frame["method"]})
    if "source" in frame:
        out["source"] = frame["source"]
    out[f"{LABELS[value]} (ours)"] = frame[value]
    if "published" in frame:
        out[f"{LABELS[value]} (published)"] = frame["published"]
        out["difference"] = frame["difference"]
    best = single(frame["vs"]) if "vs" in frame else None
    published_ref = _published_reference(frame)
    if against_snn is not None and len(against_snn):
        snn = against_snn.set_index("method")
        out["p, SNN vs method (ours)"] = [with_star(snn["p_value"].get(m), snn["star"].get(m))
                                          for m in frame["method"]]
    if "published_p" in frame:
        out[f"p, {published_ref or 'the best-ranked'} vs method (published)"] = [
            with_star(p, s) for p, s in zip(frame["published_p"], frame.get("published_star", [None] * len(frame)))]
    ours_best = [with_star(p, s) for p, s in zip(frame["p_value"], frame["star"])]
    if against_snn is not None and len(against_snn):
        out[f"p, best-ranked ({best}) vs method (ours)"] = ours_best
    else:
        out[f"p, {best or 'the best-ranked'} vs method (ours, best-ranked)"] = ours_best
    out["datasets"] = frame["n_datasets"]
    return out


def against_snn(folder: Path) -> pd.DataFrame | None:
    """Our multiple comparisons of SNN against each FNN on all datasets (the robustness report of our runs)."""
    path = folder / "robustness.csv"
    if not path.is_file():
        return None
    rows = pd.read_csv(path)
    if not {"section", "group", "source", "reference", "method", "p_value", "star"} <= set(rows.columns):
        return None  # a report that was not computed (robustness.not_computable): its one row says why
    keep = ((rows["section"] == "multiple_comparisons") & (rows["group"] == "all") & (rows["source"] == "ours")
            & (rows["reference"] == "SNN"))
    return rows.loc[keep, ["method", "p_value", "star"]] if keep.any() else None


def front_frame(folder: Path, table: str) -> pd.DataFrame:
    """A front table of ``folder`` (results/uci) as report.html shows it: the rank tables in the paper's
    layout, Table 1 (left) with our p-values of SNN against each method where the robustness stage wrote them."""
    frame = pd.read_csv(Path(folder) / f"{table}.csv")
    if not {"method", "p_value", "star", "vs"} <= set(frame.columns):
        return frame
    return rank_table_layout(frame, against_snn(Path(folder)) if table == "table1" else None)
