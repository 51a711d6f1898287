"""UCI's sources: Fernandez-Delgado's preprocessed 121 datasets and the SNN authors' splits; their
manifests (``uci121.tsv``, ``uci121_data_py.tsv``) sit beside this file."""

from __future__ import annotations

from snnbench.data.sources import Artifact, Source

UCI121 = Source(
    name="uci121",
    package=__package__,
    description="Fernandez-Delgado et al. (JMLR 2014) preprocessing of 121 UCI datasets",
    artifacts=(
        Artifact(
            filename="data.tar.gz",
            urls=(
                "https://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz",
                "http://persoal.citius.usc.es/manuel.fernandez.delgado/papers/jmlr/data.tar.gz",
            ),
            kind="tar.gz",
            mirror=("data.tar.gz", "uci121.tar.gz", "uci121"),
        ),
    ),
)
DATA_PY = Source(
    name="uci121_data_py",
    package=__package__,
    description="the SNN authors' data_py.zip: features, labels and splits of the 121 UCI datasets",
    artifacts=(
        Artifact(
            filename="data_py.zip",
            urls=(
                "https://www.bioinf.jku.at/people/klambauer/data_py.zip",
                "http://www.bioinf.jku.at/people/klambauer/data_py.zip",
            ),
            kind="zip",
            mirror=("data_py.zip", "uci121_data_py.tar.gz", "data_py"),
        ),
    ),
)
SOURCES = (UCI121, DATA_PY)
