"""Shared fixtures: the data mirror (mandatory in CI), a loopback HTTP server, synthetic sources."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from snnbench.sources import ManifestEntry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The reference data mirror from $SNNBENCH_MIRROR.

    Unset: the test is skipped with a message, unless $SNNBENCH_REQUIRE_MIRROR=1 (CI), where it fails.
    """
    value = os.environ.get("SNNBENCH_MIRROR")
    required = os.environ.get("SNNBENCH_REQUIRE_MIRROR") == "1"
    if not value:
        message = "no data mirror configured: set SNNBENCH_MIRROR to a folder laid out like shared/data to run this test"
        if required:
            pytest.fail(message + " (SNNBENCH_REQUIRE_MIRROR=1 makes it mandatory)")
        pytest.skip(message)
    path = Path(value)
    if not (path / "uci121.tar.gz").is_file() and not (path / "data.tar.gz").is_file():
        pytest.fail(f"SNNBENCH_MIRROR={value} does not look like the data mirror (no uci121.tar.gz or data.tar.gz)")
    return path


@pytest.fixture(scope="session")
def mirror_raw(mirror, tmp_path_factory) -> Path:
    """Every source downloaded from the mirror once per test session (a raw_dir)."""
    from snnbench.download import download_source
    from snnbench.sources import SOURCES

    raw = tmp_path_factory.mktemp("mirror_raw")
    for source in SOURCES.values():
        download_source(source, raw, mirror=mirror)
    return raw


# --------------------------------------------------------------------------- synthetic sources

def entry_for(member: str, data: bytes, *, blob_only: bool = False) -> ManifestEntry:
    return ManifestEntry(
        member=member,
        size=None if blob_only else len(data),
        sha256=None if blob_only else hashlib.sha256(data).hexdigest(),
        git_blob_sha1=hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
        note="",
    )


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write_verified_source(raw_dir: Path, source: str, files: dict[str, bytes], missing: tuple[str, ...] = ()) -> Path:
    """A source folder as `download_source` leaves it, for tests of the prepare steps."""
    root = raw_dir / source
    members = {}
    for member, data in files.items():
        (root / member).parent.mkdir(parents=True, exist_ok=True)
        (root / member).write_bytes(data)
        members[member] = {"status": "ok", "origin": "test", "sha256": hashlib.sha256(data).hexdigest()}
    for member in missing:
        members[member] = {"status": "missing", "origin": "test", "reason": f"{member} is not in the test archive"}
    root.mkdir(parents=True, exist_ok=True)
    (root / "_verified.json").write_text(json.dumps({"source": source, "members": members}))
    return root


# --------------------------------------------------------------------------- loopback HTTP server

class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        responses = self.routes.get(self.path, [(404, b"not found", {})])
        status, body, headers = responses[min(self.hits[self.path], len(responses)) - 1]
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A server on 127.0.0.1: ``server.route(path, (status, body, headers), ...)``; ``server.hits``.

    Several responses for one path are served in turn (the last one repeats).
    """
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    class Server:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        hits = handler.hits

        @staticmethod
        def route(path, *responses):
            handler.routes[path] = list(responses)

    yield Server
    httpd.shutdown()
    httpd.server_close()
