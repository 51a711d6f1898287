"""Fetch a source (from a mirror folder or its URLs), extract its members, verify each, write atomically.

Layout written for source ``S`` under ``raw_dir``::

    raw_dir/downloads/<artifact filename>   what was downloaded (a cache; not used with a mirror)
    raw_dir/S/<member>                      each member that verified
    raw_dir/S/_verified.json                the report: per member ok / missing / mismatch, provenance

The folder ``raw_dir/S`` appears only when the whole source was processed: members are extracted
into a staging folder that is renamed at the end. A member whose checksum does not match is not
written at all; it is recorded as ``mismatch`` so the datasets that need it are reported as
failed while the rest of the source stays usable. Whole-artifact problems (an HTML page instead
of an archive, a truncated or corrupt archive, no URL reachable) raise :class:`DownloadError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from snnbench import __version__
from snnbench.atomic import CANNOT_WRITE, naming
from snnbench.data.sources import Artifact, ManifestEntry, Source
from snnbench.errors import DataError, DownloadError, UnavailableError

log = logging.getLogger(__name__)

MIRROR_ENV = "SNNBENCH_MIRROR"
REPORT_NAME = "_verified.json"
CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadSettings:
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 2.0


def resolve_mirror(explicit: str | os.PathLike | None) -> Path | None:
    """The mirror folder: the explicit setting if given, else ``$SNNBENCH_MIRROR``, else none."""
    value = explicit if explicit not in (None, "") else os.environ.get(MIRROR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DownloadError(
            f"the mirror folder {str(path)!r} (from {'the mirror setting' if explicit else '$' + MIRROR_ENV}) "
            "does not exist or is not a folder; fix the path or unset it to download from the internet"
        )
    return path


def mirror_copies(source: Source, mirror: str | os.PathLike | None, raw_dir: str | os.PathLike) -> list[Path]:
    """The mirror's copies of ``source``'s artifacts that exist (the first of each artifact's
    names, as ``_candidates`` picks them) and, in an unpacked folder copy, the files that failed
    their checksum last time (``raw_dir/<source>/_verified.json``): the workflow makes them inputs
    of the download job, so a mirror file fixed or replaced (newer) reprocesses the source and
    what depends on it."""
    mirror = resolve_mirror(mirror)
    if mirror is None:
        return []
    report = Path(raw_dir) / source.name / REPORT_NAME
    try:
        members = json.loads(report.read_text()).get("members", {})
    except (OSError, ValueError):
        members = {}
    bad = [m for m, info in members.items() if info.get("status") == "mismatch"]
    found = []
    for artifact in source.artifacts:
        present = [mirror / rel for rel in artifact.mirror if (mirror / rel).exists()]
        found += present[:1]
        if present and present[0].is_dir():
            for member in bad:
                found += [p for p in present[0].rglob(Path(member).name) if p.as_posix().endswith(member)][:1]
    return found


# --------------------------------------------------------------------------- checksums

class _Digest:
    """sha256 and git blob sha1 of a byte stream of known length, computed in one pass."""

    def __init__(self, size: int):
        self.size = size
        self.sha256 = hashlib.sha256()
        self.blob = hashlib.sha1(b"blob %d\0" % size)
        self.seen = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.blob.update(chunk)
        self.seen += len(chunk)


def check_member(entry: ManifestEntry, digest: _Digest) -> str | None:
    """None when the bytes match the manifest, else a sentence saying how they differ."""
    if entry.size is not None and digest.seen != entry.size:
        return f"size {digest.seen:,} bytes, expected {entry.size:,}"
    if entry.sha256 is not None:
        got = digest.sha256.hexdigest()
        return None if got == entry.sha256 else f"sha256 {got}, expected {entry.sha256}"
    if entry.git_blob_sha1 is not None:
        got = digest.blob.hexdigest()
        return None if got == entry.git_blob_sha1 else f"git blob id {got}, expected {entry.git_blob_sha1}"
    return None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- fetching

def _looks_like_html(head: bytes) -> bool:
    text = head[:1024].lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in text[:256]


def _sniff(path: Path, artifact: Artifact, origin: str) -> None:
    with open(path, "rb") as f:
        head = f.read(1024)
    if _looks_like_html(head):
        raise DownloadError(
            f"{origin} is an HTML page, not {artifact.filename!r} (the server answered with a web page, "
            "e.g. an error, login or moved-page notice); check the URL or fetch the file by hand into a mirror folder"
        )
    if not head:
        raise DownloadError(f"{origin} is empty; expected {artifact.filename!r}")


class _ClientError(DownloadError):
    """HTTP 4xx: retrying the same URL will not help."""


def _cut_short(written: int, expected: str | None) -> str:
    return f"connection closed after {written:,} of {int(expected):,} bytes" if expected else \
        f"connection closed after {written:,} bytes"


def fetch_url(url: str, dest: Path, settings: DownloadSettings) -> None:
    """Stream ``url`` to ``dest`` via ``dest.part``; retry transient failures with backoff."""
    import requests
    import urllib3

    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(1, settings.retries + 1):
        try:
            with requests.get(url, stream=True, timeout=settings.timeout_s) as resp:
                if 400 <= resp.status_code < 500:
                    raise _ClientError(f"{url} answered HTTP {resp.status_code} {resp.reason}")
                resp.raise_for_status()
                expected = resp.headers.get("Content-Length")
                written = 0
                with open(part, "wb") as f:
                    # NOTE: raw bytes: servers often label .gz files `Content-Encoding: gzip`, and
                    # decoding them would turn the archive into something else.
                    try:
                        for chunk in resp.raw.stream(CHUNK, decode_content=False):
                            f.write(chunk)
                            written += len(chunk)
                    except urllib3.exceptions.HTTPError as exc:  # e.g. the connection dropped midway
                        raise DownloadError(f"{_cut_short(written, expected)} ({type(exc).__name__})") from exc
                if expected is not None and written != int(expected):
                    raise DownloadError(f"{url}: {_cut_short(written, expected)}")
            os.replace(part, dest)
            return
        except _ClientError:
            part.unlink(missing_ok=True)
            raise
        except DownloadError as exc:
            part.unlink(missing_ok=True)
            last = exc
        except (requests.RequestException, OSError) as exc:
            part.unlink(missing_ok=True)
            if not isinstance(exc, requests.RequestException) and exc.errno in CANNOT_WRITE:
                raise naming(exc, dest) from exc  # a full disk: no retry helps
            last = exc
        if attempt < settings.retries:
            wait = settings.backoff_s * 2 ** (attempt - 1)
            log.warning("download of %s failed (%s); retry %d/%d in %.0f s", url, last, attempt, settings.retries - 1,
                        wait)
            time.sleep(wait)
    raise DownloadError(f"{url}: {last} (after {settings.retries} attempts)")


def _candidates(
    artifact: Artifact, *, mirror: Path | None, downloads: Path, settings: DownloadSettings, failures: list[str]
) -> Iterator[tuple[Path, str, bool]]:
    """Where the artifact's bytes may be, in order: the mirror, a cached download, each URL
    (downloaded only when reached). Yields (path, origin, ours): ``ours`` is a download of our
    own, which is removed when it proves unusable. A URL that cannot be fetched is noted in
    ``failures`` and skipped."""
    if mirror is not None:
        found = [mirror / rel for rel in artifact.mirror if (mirror / rel).exists()]
        if found:
            yield found[0], f"mirror {found[0]}", False
        else:
            log.warning("%s: none of %s in the mirror %s; trying its URLs", artifact.filename, list(artifact.mirror),
                        mirror)
    cached = downloads / artifact.filename
    if cached.is_file():
        yield cached, f"cached download {cached}", True
    for url in artifact.urls:
        downloads.mkdir(parents=True, exist_ok=True)
        try:
            log.info("downloading %s", url)
            fetch_url(url, cached, settings)
            _sniff(cached, artifact, f"the download from {url}")
        except DownloadError as exc:
            cached.unlink(missing_ok=True)
            failures.append(str(exc))
            continue
        yield cached, url, True


def _no_usable_copy(artifact: Artifact, failures: list[str]) -> DownloadError:
    tried = "\n  ".join(failures) or "(no mirror copy and no URL)"
    return DownloadError(
        f"could not get a usable {artifact.filename!r} from the mirror or any of its URLs:\n  {tried}\n"
        f"If this machine is offline, point the mirror setting at a folder holding the file "
        f"(config key `mirror:` or environment variable {MIRROR_ENV}; looked for {list(artifact.mirror)} there)."
    )


# --------------------------------------------------------------------------- archive members

def _match(name: str, wanted: tuple[str, ...]) -> str | None:
    """The wanted member that archive path ``name`` is, by path suffix (any leading folders)."""
    name = name.replace("\\", "/").lstrip("./")
    for member in wanted:
        if name == member or name.endswith("/" + member):
            return member
    return None


def _iter_members(path: Path, artifact: Artifact, wanted: tuple[str, ...],
                  origin: str) -> Iterator[tuple[str, int, IO[bytes]]]:
    """Yield (member, size, stream) for each wanted member found, shallowest copy first."""
    if artifact.kind == "file":
        if path.is_dir():
            raise DownloadError(f"{origin} is a folder; expected the file {artifact.filename!r}")
        _sniff(path, artifact, origin)
        with open(path, "rb") as f:
            yield wanted[0], path.stat().st_size, f
        return
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
        chosen = _depth_order([(n, m) for n in names if (m := _match(n, wanted))])
        for member, name in sorted(chosen.items()):
            with open(path / name, "rb") as f:
                yield member, (path / name).stat().st_size, f
        return
    _sniff(path, artifact, origin)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        yield from _iter_zip(path, wanted, origin)
    elif magic.startswith(b"\x1f\x8b"):
        yield from _iter_tar(path, wanted, origin)
    else:
        raise DownloadError(f"{origin} is neither a zip nor a tar.gz archive (first bytes {magic!r}); "
                            f"expected {artifact.filename!r}")


def _depth_order(names: list[tuple[str, str]]) -> dict[str, str]:
    best: dict[str, str] = {}
    for name, member in names:
        if member not in best or name.count("/") < best[member].count("/"):
            best[member] = name
    return best


def _iter_zip(path: Path, wanted: tuple[str, ...], origin: str) -> Iterator[tuple[str, int, IO[bytes]]]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            chosen = _depth_order([(n, m) for n in infos if (m := _match(n, wanted))])
            for member, name in sorted(chosen.items()):
                with zf.open(infos[name]) as stream:
                    yield member, infos[name].file_size, stream
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{origin} is a truncated or corrupt zip archive ({exc}); "
                            "delete it and download again") from exc


def _iter_tar(path: Path, wanted: tuple[str, ...], origin: str) -> Iterator[tuple[str, int, IO[bytes]]]:
    # A .tar.gz can only be read front to back; the shallowest copy of a member is chosen in a
    # first pass over the headers, then the second pass streams the chosen ones.
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            names = [(ti.name, m) for ti in tf if ti.isfile() and (m := _match(ti.name, wanted))]
        chosen = {name: member for member, name in _depth_order(names).items()}
        with tarfile.open(path, mode="r:gz") as tf:
            for ti in tf:
                if ti.isfile() and ti.name in chosen:
                    stream = tf.extractfile(ti)
                    assert stream is not None
                    yield chosen[ti.name], ti.size, stream
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise DownloadError(f"{origin} is a truncated or corrupt tar.gz archive ({exc}); "
                            "delete it and download again") from exc


# --------------------------------------------------------------------------- the source

def download_source(
    source: Source,
    raw_dir: str | os.PathLike,
    *,
    mirror: Path | None = None,
    settings: DownloadSettings = DownloadSettings(),
    manifest: dict[str, ManifestEntry] | None = None,
) -> dict:
    """Fetch, extract and verify every member of ``source``; return the report (also written).

    ``manifest`` replaces the shipped one (tests use it for synthetic sources).
    """
    raw_dir = Path(raw_dir)
    final = raw_dir / source.name
    staging = raw_dir / f".{source.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = source.manifest if manifest is None else manifest
    members: dict[str, dict] = {}
    artifacts = []
    try:
        for artifact in source.artifacts:
            wanted = source.members_of(artifact, manifest)
            extracted, origin, sha256 = _extract_artifact(artifact, wanted, manifest, staging, mirror=mirror,
                                                        downloads=raw_dir / "downloads", settings=settings)
            members.update(extracted)
            for member in wanted:
                if member not in members:
                    members[member] = {"status": "missing", "origin": origin,
                                       "reason": f"{member} is not in {origin}"}
            artifacts.append({"filename": artifact.filename, "origin": origin, "sha256": sha256})
        report = {
            "source": source.name,
            "description": source.description,
            "snnbench_version": __version__,
            "artifacts": artifacts,
            "counts": {s: sum(1 for m in members.values() if m["status"] == s) for s in ("ok", "missing", "mismatch")},
            "members": dict(sorted(members.items())),
        }
        (staging / REPORT_NAME).write_text(json.dumps(report, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for member, info in report["members"].items():
        if info["status"] != "ok":
            log.warning("%s: %s: %s", source.name, info["status"], info["reason"])
    return report


def _extract_artifact(artifact: Artifact, wanted: tuple[str, ...], manifest: dict[str, ManifestEntry], staging: Path,
                      *, mirror: Path | None, downloads: Path,
                      settings: DownloadSettings) -> tuple[dict, str, str | None]:
    """Extract and verify ``wanted`` from the first usable copy of ``artifact``: a copy that is
    not a readable archive of the expected files, or that holds a file failing its checksum, is
    set aside (our own download removed) and the next one tried (mirror, cached download, each
    URL). Where every copy fails its checksums, the last one's verified files are kept and the
    others recorded as mismatches; where none is readable, a ``DownloadError`` names them all.
    Returns the members' records, the origin used and that copy's sha256 (None for a folder)."""
    failures: list[str] = []
    kept: tuple[dict, str, str | None, Path] | None = None  # members, origin, sha256, their folder
    for tried, (path, origin, ours) in enumerate(_candidates(artifact, mirror=mirror, downloads=downloads,
                                                             settings=settings, failures=failures)):
        attempt = staging.with_name(f"{staging.name}.{artifact.filename}.{tried}.attempt")
        shutil.rmtree(attempt, ignore_errors=True)
        attempt.mkdir(parents=True)
        members: dict[str, dict] = {}
        try:
            for member, size, stream in _iter_members(path, artifact, wanted, origin):
                members[member] = _extract_one(stream, size, manifest[member], attempt, origin)
            if not members:
                raise DownloadError(f"{origin} holds none of the {len(wanted)} files expected in {artifact.filename!r} "
                                    f"(e.g. {wanted[0]!r}); it is not the right file")
        except DownloadError as exc:
            shutil.rmtree(attempt, ignore_errors=True)
            if ours:
                path.unlink(missing_ok=True)
                exc = DownloadError(f"{exc} (the unusable download was removed: the next run fetches it again)")
            failures.append(str(exc))
            continue
        if kept is not None:  # a later copy replaces an earlier one with mismatches
            shutil.rmtree(kept[3], ignore_errors=True)
        kept = (members, origin, file_sha256(path) if path.is_file() else None, attempt)
        bad = [m for m, info in members.items() if info["status"] != "ok"]
        if not bad:
            break
        failures.append(f"{origin}: {len(bad)} file(s) failed their checksum, e.g. {members[bad[0]]['reason']}")
        log.warning("%s; trying the next copy of %s", failures[-1], artifact.filename)
        if ours:  # its verified files are kept; the next URL downloads under the same name
            path.unlink(missing_ok=True)
    if kept is None:
        raise _no_usable_copy(artifact, failures)
    members, origin, sha256, attempt = kept
    for member, info in members.items():
        if info["status"] == "ok":
            target = staging / member
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(attempt / member, target)
    shutil.rmtree(attempt, ignore_errors=True)
    return members, origin, sha256


def _extract_one(stream: IO[bytes], size: int, entry: ManifestEntry, staging: Path, origin: str) -> dict:
    target = staging / entry.member
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    digest = _Digest(size)
    try:
        with open(tmp, "wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in CANNOT_WRITE:  # a full disk (a corrupt archive's errors are raised as they are)
            raise naming(exc, target) from exc
        raise
    problem = check_member(entry, digest)
    if problem is not None:
        tmp.unlink()
        return {"status": "mismatch", "origin": origin,
                "reason": f"checksum mismatch for {entry.member} from {origin}: {problem}; "
                          "the file is corrupt or a different version: fetch it again or fix the mirror"}
    os.replace(tmp, target)
    return {"status": "ok", "origin": origin, "sha256": digest.sha256.hexdigest()}


# --------------------------------------------------------------------------- reading back

class VerifiedSource:
    """A downloaded source folder, read through its report; hands out paths of verified members."""

    def __init__(self, raw_dir: str | os.PathLike, name: str):
        self.root = Path(raw_dir) / name
        report_path = self.root / REPORT_NAME
        if not report_path.is_file():
            raise DataError(
                f"no verified download of source {name!r} (missing {report_path}); "
                f"run `snnbench data download {name}` first",
                path=report_path,
            )
        self.report = json.loads(report_path.read_text())
        self.name = name

    def path(self, member: str) -> Path:
        info = self.report["members"].get(member)
        if info is None:
            raise DataError(f"{member!r} is not a member of source {self.name!r}", path=self.root / REPORT_NAME)
        if info["status"] == "missing":
            raise UnavailableError(info["reason"])
        if info["status"] == "mismatch":
            raise DataError(info["reason"], path=self.root / member)
        path = self.root / member
        if not path.is_file():
            raise DataError(f"verified member {member} has disappeared; "
                            f"run `snnbench data download {self.name}` again", path=path)
        return path

    def status(self, member: str) -> str:
        """``ok``, ``mismatch`` or ``missing`` (also for a name the report does not list)."""
        return self.report["members"].get(member, {}).get("status", "missing")

    def has(self, member: str) -> bool:
        return self.status(member) == "ok"

    def provenance(self, member: str) -> dict:
        info = self.report["members"][member]
        return {"member": f"{self.name}/{member}", "sha256": info.get("sha256"), "origin": info.get("origin")}
