"""UCI's published score rows: Table A11's FNN accuracies and Fernandez-Delgado's 179 classifiers."""

from __future__ import annotations

import pandas as pd

from snnbench.contracts.scores import SCORE_COLUMNS
from snnbench.reference import FD_REPRESENTATIVES, published_24_accuracies


def published_uci_rows(datasets: list[str]) -> pd.DataFrame:
    """Table A11 (7 FNNs) and FD's 17 representatives for ``datasets``, as score rows."""

    table = published_24_accuracies().reindex(datasets)
    rows = []
    for dataset, values in table.iterrows():
        for method, value in values.items():
            rows.append({"benchmark": "uci", "dataset": dataset, "method": method, "split": "paper",
                         "source": "published", "metric": "accuracy", "value": value,
                         "status": "ok" if pd.notna(value) else "missing",
                         "reason": None if pd.notna(value) else "no published value",
                         "hyperparameters": None,
                         "origin": "Fernandez-Delgado et al. 2014" if method in FD_REPRESENTATIVES else "Table A11"})
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*SCORE_COLUMNS, "origin"])
