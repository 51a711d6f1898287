"""HTRU2's source: UCI dataset 372; its manifest (``htru2.tsv``) sits beside this file."""

from __future__ import annotations

from snnbench.data.sources import Artifact, Source

HTRU2 = Source(
    name="htru2",
    package=__package__,
    description="HTRU2 pulsar candidates (Lyon et al. 2016), UCI dataset 372",
    artifacts=(
        Artifact(
            filename="HTRU2.zip",
            urls=(
                "https://archive.ics.uci.edu/ml/machine-learning-databases/00372/HTRU2.zip",
                "https://archive.ics.uci.edu/static/public/372/htru2.zip",
            ),
            kind="zip",
            mirror=("HTRU2.zip", "htru2"),
        ),
    ),
)
SOURCES = (HTRU2,)
