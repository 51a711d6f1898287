"""Every data source of the three benchmarks: where to fetch it, what to extract, which checksums.

A *source* is what one ``download`` step produces: a folder ``<raw_dir>/<source>/`` of verified
files (its *members*). A source is made of one or more *artifacts*, the things actually
downloaded (an archive or a plain file). Each artifact lists its canonical URLs, tried in order,
and the names it may have in a mirror folder laid out like the project's reference mirror.

Integrity is checked per extracted member against the manifest shipped with the package
(``snnbench/manifests/<source>.tsv``): sha256 where it is known, else the git blob id, so the
original archive and a repacked mirror archive verify the same way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from .errors import ConfigError

ARCHIVE_KINDS = ("tar.gz", "zip", "file")


@dataclass(frozen=True)
class ManifestEntry:
    member: str
    size: int | None
    sha256: str | None
    git_blob_sha1: str | None
    note: str


@dataclass(frozen=True)
class Artifact:
    """One thing to download.

    ``kind`` is ``tar.gz`` or ``zip`` for an archive whose members are looked up by path suffix,
    or ``file`` for a plain file that is itself the member named ``filename``.
    ``members`` is None for "every manifest member not claimed by another artifact".
    ``mirror`` lists relative paths to look for in a mirror folder, in order; each may be an
    archive (zip or tar.gz, told apart by content), a plain file, or an unpacked folder.
    """

    filename: str
    urls: tuple[str, ...]
    kind: str
    mirror: tuple[str, ...]
    members: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ARCHIVE_KINDS:
            raise ValueError(f"Artifact kind must be one of {ARCHIVE_KINDS}, however: {self.kind=}")


@dataclass(frozen=True)
class Source:
    name: str
    benchmark: str
    description: str
    artifacts: tuple[Artifact, ...]

    @property
    def manifest(self) -> dict[str, ManifestEntry]:
        return load_manifest(self.name)

    def members_of(self, artifact: Artifact, manifest: dict[str, ManifestEntry] | None = None) -> tuple[str, ...]:
        if artifact.members is not None:
            return artifact.members
        claimed = {m for a in self.artifacts if a.members is not None for m in a.members}
        return tuple(m for m in (self.manifest if manifest is None else manifest) if m not in claimed)


_JKU_DEEPTOX = ("https://bioinf.jku.at/research/DeepTox/", "http://bioinf.jku.at/research/DeepTox/")

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="uci121",
            benchmark="uci",
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
        ),
        Source(
            name="uci121_data_py",
            benchmark="uci",
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
        ),
        Source(
            name="tox21",
            benchmark="tox21",
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
        ),
        Source(
            name="htru2",
            benchmark="htru2",
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
        ),
    )
}

def benchmark_sources() -> dict[str, tuple[str, ...]]:
    """Benchmark -> the sources its data comes from, as the benchmarks' specs declare them."""
    from . import benchmarks

    return {name: benchmarks.get(name).sources for name in benchmarks.BENCHMARKS}


BENCHMARK_SOURCES = benchmark_sources()


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None


@cache
def load_manifest(source: str) -> dict[str, ManifestEntry]:
    text = resources.files("snnbench.manifests").joinpath(f"{source}.tsv").read_text()
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return {
        r["member"]: ManifestEntry(
            member=r["member"],
            size=int(r["size"]) if r["size"] else None,
            sha256=r["sha256"] or None,
            git_blob_sha1=r["git_blob_sha1"] or None,
            note=r["note"],
        )
        for r in rows
    }
