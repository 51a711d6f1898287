"""What a data source is: where to fetch it, what to extract, which checksums (each benchmark
declares its own in ``benchmarks/<name>/sources.py``).

A *source* is what one ``download`` step produces: a folder ``<raw_dir>/<source>/`` of verified
files (its *members*). A source is made of one or more *artifacts*, the things actually
downloaded (an archive or a plain file). Each artifact lists its canonical URLs, tried in order,
and the names it may have in a mirror folder laid out like the project's reference mirror.

Integrity is checked per extracted member against the manifest shipped with the package
(``snnbench/benchmarks/<benchmark>/<source>.tsv``): sha256 where it is known, else the git blob id, so the
original archive and a repacked mirror archive verify the same way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from snnbench.errors import ConfigError

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
    """One source; ``package``: the package whose folder ships its manifest ``<name>.tsv`` (its
    benchmark's, ``snnbench/benchmarks/<benchmark>/``; None for a source whose manifest is passed in)."""

    name: str
    description: str
    artifacts: tuple[Artifact, ...]
    package: str | None = None

    @property
    def manifest(self) -> dict[str, ManifestEntry]:
        if self.package is None:
            raise ConfigError(f"source {self.name!r} ships no manifest (package=None): pass one to the download")
        return load_manifest(self.package, self.name)

    def members_of(self, artifact: Artifact, manifest: dict[str, ManifestEntry] | None = None) -> tuple[str, ...]:
        if artifact.members is not None:
            return artifact.members
        claimed = {m for a in self.artifacts if a.members is not None for m in a.members}
        return tuple(m for m in (self.manifest if manifest is None else manifest) if m not in claimed)


@cache
def load_manifest(package: str, source: str) -> dict[str, ManifestEntry]:
    text = resources.files(package).joinpath(f"{source}.tsv").read_text()
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
