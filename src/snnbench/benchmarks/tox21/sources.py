"""Tox21's source: the DeepTox challenge data; its manifest (``tox21.tsv``) sits beside this file."""

from __future__ import annotations

from snnbench.data.sources import Artifact, Source

_JKU_DEEPTOX = ("https://bioinf.jku.at/research/DeepTox/", "http://bioinf.jku.at/research/DeepTox/")

TOX21 = Source(
    name="tox21",
    package=__package__,
    description="DeepTox Tox21 challenge data: labels, official split, structures, DeepTox features",
    artifacts=(
        Artifact(
            filename="tox21.zip",
            urls=tuple(base + "tox21.zip" for base in _JKU_DEEPTOX),
            kind="zip",
            mirror=("tox21.zip", "tox21"),
            members=(
                "tox21_dense_test.csv.gz",
                "tox21_dense_train.csv.gz",
                "tox21_labels_test.csv.gz",
                "tox21_labels_train.csv.gz",
                "tox21_sparse_colnames.txt.gz",
                "tox21_sparse_rownames_test.txt.gz",
                "tox21_sparse_rownames_train.txt.gz",
                "tox21_sparse_test.mtx.gz",
                "tox21_sparse_train.mtx.gz",
            ),
        ),
        Artifact(
            filename="tox21_compoundData.csv",
            urls=tuple(base + "tox21_compoundData.csv" for base in _JKU_DEEPTOX),
            kind="file",
            mirror=("tox21_compoundData.csv", "tox21/tox21_compoundData.csv"),
            members=("tox21_compoundData.csv",),
        ),
        Artifact(
            filename="tox21.sdf.gz",
            urls=tuple(base + "tox21.sdf.gz" for base in _JKU_DEEPTOX),
            kind="file",
            mirror=("tox21.sdf.gz", "tox21/tox21.sdf.gz"),
            members=("tox21.sdf.gz",),
        ),
    ),
)
SOURCES = (TOX21,)
