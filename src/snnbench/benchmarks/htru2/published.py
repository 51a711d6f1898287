"""HTRU2's published score rows (Table 3)."""

from __future__ import annotations

import pandas as pd

from snnbench.contracts.scores import SCORE_COLUMNS
from snnbench.reference import published_htru2_table3


def published_htru2_rows() -> pd.DataFrame:
    """Table 3's published AUC means (the paper's FNNs and the rows it quotes from Lyon et al. 2016)."""

    table = published_htru2_table3()
    frame = pd.DataFrame({"benchmark": "htru2", "dataset": "htru2", "method": table["method"], "split": "paper",
                          "source": "published", "metric": "roc_auc", "value": table["auc_mean"], "status": "ok",
                          "origin": ["Table 3" if k == "FNN" else "Lyon et al. 2016 (quoted in Table 3)"
                                     for k in table["kind"]]})
    return frame.reindex(columns=[*SCORE_COLUMNS, "origin"])
