"""Download, extraction and verification on tiny synthetic archives (and a loopback HTTP server)."""

from __future__ import annotations

import json

import pytest

from helpers import entry_for, make_tar_gz, make_zip
from snnbench.data.download import DownloadSettings, VerifiedSource, download_source, resolve_mirror
from snnbench.data.sources import Artifact, Source
from snnbench.errors import DataError, DownloadError, UnavailableError

FILES = {
    "alpha/alpha_R.dat": b"\tf1\tclase\n1\t0.5\t0\n2\t-0.5\t1\n",
    "alpha/alpha.txt": b"n_entradas= 1\nn_clases= 2\n",
    "beta/beta_R.dat": b"\tf1\tclase\n1\t1.5\t1\n",
}
MANIFEST = {m: entry_for(m, d) for m, d in FILES.items()}
FAST = DownloadSettings(timeout_s=5, retries=2, backoff_s=0.01)


def toy_source(kind="tar.gz", urls=(), mirror=("toy.tar.gz", "toy")) -> Source:
    return Source(name="toy", description="test source",
                  artifacts=(Artifact(filename=f"toy.{kind}", urls=tuple(urls), kind=kind, mirror=mirror),))


def no_partial_files(raw):
    leftovers = [p for p in raw.rglob("*")
                 if p.name.endswith((".part", ".attempt", ".mismatch")) or ".staging-" in p.name]
    return not leftovers


def test_tar_gz_under_any_prefix_is_extracted_and_verified(tmp_path):
    archive = {f"data/{m}": d for m, d in FILES.items()}
    archive["data/hayes/copias/alpha/alpha_R.dat"] = b"a deeper copy that must not win"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(make_tar_gz(archive))
    report = download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=MANIFEST)
    assert report["counts"] == {"ok": 3, "missing": 0, "mismatch": 0}
    for member, data in FILES.items():
        assert (tmp_path / "raw" / "toy" / member).read_bytes() == data
    verified = json.loads((tmp_path / "raw" / "toy" / "_verified.json").read_text())
    assert verified["members"]["beta/beta_R.dat"]["status"] == "ok"
    assert no_partial_files(tmp_path / "raw")


def test_zip_and_unpacked_folder_verify_the_same_way(tmp_path):
    (tmp_path / "m1").mkdir()
    (tmp_path / "m1" / "toy.zip").write_bytes(make_zip({f"data_py/{m}": d for m, d in FILES.items()}))
    r1 = download_source(toy_source("zip", mirror=("toy.zip",)), tmp_path / "raw1", mirror=tmp_path / "m1",
                         manifest=MANIFEST)
    for member, data in FILES.items():
        path = tmp_path / "m2" / "toy" / member
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    r2 = download_source(toy_source("zip", mirror=("toy.zip", "toy")), tmp_path / "raw2", mirror=tmp_path / "m2",
                         manifest=MANIFEST)
    assert r1["counts"] == r2["counts"] == {"ok": 3, "missing": 0, "mismatch": 0}
    assert {m: i["sha256"] for m, i in r1["members"].items()} == {m: i["sha256"] for m, i in r2["members"].items()}


def test_checksum_mismatch_is_recorded_and_the_file_not_written(tmp_path):
    bad = dict(FILES, **{"beta/beta_R.dat": b"\tf1\tclase\n1\t9.9\t1\n"})
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(make_tar_gz(bad))
    report = download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=MANIFEST)
    assert report["counts"] == {"ok": 2, "missing": 0, "mismatch": 1}
    assert not (tmp_path / "raw" / "toy" / "beta" / "beta_R.dat").exists()
    source = VerifiedSource(tmp_path / "raw", "toy")
    assert source.path("alpha/alpha_R.dat").is_file()
    with pytest.raises(DataError, match=r"checksum mismatch for beta/beta_R.dat .*sha256 [0-9a-f]{64}, expected"):
        source.path("beta/beta_R.dat")


def test_git_blob_id_is_enough_where_no_sha256_is_known(tmp_path):
    manifest = dict(MANIFEST, **{"beta/beta_R.dat": entry_for("beta/beta_R.dat", b"other bytes", blob_only=True)})
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(make_tar_gz(FILES))
    report = download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=manifest)
    assert "git blob id" in report["members"]["beta/beta_R.dat"]["reason"]
    good = dict(MANIFEST, **{"beta/beta_R.dat": entry_for("beta/beta_R.dat", FILES["beta/beta_R.dat"], blob_only=True)})
    assert download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=good)["counts"]["ok"] == 3


def test_member_missing_from_the_archive_is_unavailable(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(
        make_tar_gz({m: d for m, d in FILES.items() if not m.startswith("beta")}))
    report = download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=MANIFEST)
    assert report["counts"]["missing"] == 1
    with pytest.raises(UnavailableError, match=r"beta/beta_R.dat is not in mirror .*toy.tar.gz"):
        VerifiedSource(tmp_path / "raw", "toy").path("beta/beta_R.dat")


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_truncated_archive_is_a_clear_error_and_leaves_nothing(tmp_path, kind):
    blob = (make_tar_gz if kind == "tar.gz" else make_zip)({m: d * 2000 for m, d in FILES.items()})
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / f"toy.{kind}").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DownloadError, match=rf"toy.{kind} is a truncated or corrupt {kind} archive"):
        download_source(toy_source(kind, mirror=(f"toy.{kind}",)), tmp_path / "raw", mirror=tmp_path / "m",
                        manifest=MANIFEST)
    assert not (tmp_path / "raw" / "toy").exists()
    assert no_partial_files(tmp_path / "raw")


def test_archive_with_none_of_the_expected_files_is_rejected(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(make_tar_gz({"readme.txt": b"hello"}))
    with pytest.raises(DownloadError, match="holds none of the 3 files expected"):
        download_source(toy_source(), tmp_path / "raw", mirror=tmp_path / "m", manifest=MANIFEST)


def test_html_page_instead_of_archive_over_http(tmp_path, http_server):
    page = b"<!DOCTYPE html><html><body>404 - moved</body></html>"
    http_server.route("/toy.tar.gz", (200, page, {"Content-Type": "text/html"}))
    source = toy_source(urls=[http_server.url + "/toy.tar.gz"])
    with pytest.raises(DownloadError, match=r"is an HTML page, not 'toy.tar.gz'"):
        download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert not (tmp_path / "raw" / "downloads" / "toy.tar.gz").exists()
    assert no_partial_files(tmp_path / "raw")


def test_next_url_after_404_and_retry_after_500_then_cache(tmp_path, http_server):
    good = make_tar_gz(FILES)
    http_server.route("/flaky.tar.gz", (500, b"busy", {}), (200, good, {}))
    source = toy_source(urls=[http_server.url + "/gone.tar.gz", http_server.url + "/flaky.tar.gz"])
    report = download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert report["counts"]["ok"] == 3
    assert http_server.hits == {"/gone.tar.gz": 1, "/flaky.tar.gz": 2}
    assert report["artifacts"][0]["origin"] == http_server.url + "/flaky.tar.gz"
    download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert http_server.hits["/flaky.tar.gz"] == 2, "the second run must reuse the cached download"


def test_offline_without_mirror_names_the_url_and_the_mirror_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("SNNBENCH_MIRROR", raising=False)
    source = toy_source(urls=["http://127.0.0.1:9/toy.tar.gz"])
    with pytest.raises(DownloadError) as info:
        download_source(source, tmp_path / "raw", mirror=resolve_mirror(None), settings=FAST, manifest=MANIFEST)
    message = str(info.value)
    assert "http://127.0.0.1:9/toy.tar.gz" in message
    assert "SNNBENCH_MIRROR" in message and "`mirror:`" in message


def test_mirror_setting_and_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNBENCH_MIRROR", str(tmp_path))
    assert resolve_mirror(None) == tmp_path
    assert resolve_mirror(str(tmp_path / ".")) == tmp_path / "."
    with pytest.raises(DownloadError, match="does not exist or is not a folder"):
        resolve_mirror(str(tmp_path / "nope"))
    monkeypatch.delenv("SNNBENCH_MIRROR")
    assert resolve_mirror(None) is None


def test_a_source_absent_from_the_mirror_falls_back_to_its_urls(tmp_path, http_server):
    http_server.route("/toy.tar.gz", (200, make_tar_gz(FILES), {}))
    (tmp_path / "empty_mirror").mkdir()
    source = toy_source(urls=[http_server.url + "/toy.tar.gz"])
    report = download_source(source, tmp_path / "raw", mirror=tmp_path / "empty_mirror", settings=FAST,
                             manifest=MANIFEST)
    assert report["counts"]["ok"] == 3 and http_server.hits["/toy.tar.gz"] == 1


def test_plain_file_artifact_with_html_in_the_mirror(tmp_path):
    data = b"ID,set\nA,training\n"
    source = Source(name="plain", description="t",
                    artifacts=(Artifact(filename="c.csv", urls=(), kind="file", mirror=("c.csv",),
                                        members=("c.csv",)),))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "c.csv").write_bytes(b"<html><head><title>Error</title></head></html>")
    with pytest.raises(DownloadError, match="HTML page"):
        download_source(source, tmp_path / "raw", mirror=tmp_path / "m", manifest={"c.csv": entry_for("c.csv", data)})
    (tmp_path / "m" / "c.csv").write_bytes(data)
    report = download_source(source, tmp_path / "raw", mirror=tmp_path / "m",
                             manifest={"c.csv": entry_for("c.csv", data)})
    assert report["counts"]["ok"] == 1


def test_gzip_content_encoding_header_does_not_unpack_the_archive(tmp_path, http_server):
    http_server.route("/toy.tar.gz", (200, make_tar_gz(FILES), {"Content-Encoding": "gzip",
                                                                "Content-Type": "application/x-tar"}))
    report = download_source(toy_source(urls=[http_server.url + "/toy.tar.gz"]), tmp_path / "raw", settings=FAST,
                             manifest=MANIFEST)
    assert report["counts"]["ok"] == 3


def test_a_truncated_download_is_removed_so_the_next_run_fetches_it_again(tmp_path, http_server):
    good = make_tar_gz({m: d * 2000 for m, d in FILES.items()})
    http_server.route("/toy.tar.gz", (200, good[: len(good) // 2], {}), (200, make_tar_gz(FILES), {}))
    source = toy_source(urls=[http_server.url + "/toy.tar.gz"])
    with pytest.raises(DownloadError, match=r"truncated or corrupt tar.gz archive .*the unusable download was removed"):
        download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert not (tmp_path / "raw" / "downloads" / "toy.tar.gz").exists() and not (tmp_path / "raw" / "toy").exists()
    assert download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)["counts"]["ok"] == 3


# --------------------------------------------------------------------------- faults (issue 7)
# Each fault is served by the loopback server; what must hold afterwards: the retries happened,
# the next URL (or the mirror) was used, or the error names every URL and the mirror setting;
# and no partial file is left.


def test_a_timeout_is_retried_then_the_next_url_is_used(tmp_path, http_server):
    http_server.route("/slow.tar.gz", (200, make_tar_gz(FILES), {"X-Test-Delay": "1.5"}))
    http_server.route("/toy.tar.gz", (200, make_tar_gz(FILES), {}))
    source = toy_source(urls=[http_server.url + "/slow.tar.gz", http_server.url + "/toy.tar.gz"])
    settings = DownloadSettings(timeout_s=0.5, retries=2, backoff_s=0.01)
    report = download_source(source, tmp_path / "raw", settings=settings, manifest=MANIFEST)
    assert report["counts"]["ok"] == 3 and report["artifacts"][0]["origin"] == http_server.url + "/toy.tar.gz"
    assert http_server.hits == {"/slow.tar.gz": 2, "/toy.tar.gz": 1}
    assert no_partial_files(tmp_path / "raw")


def test_a_connection_dropped_midway_is_retried(tmp_path, http_server):
    good = make_tar_gz(FILES)
    http_server.route("/toy.tar.gz", (200, good, {"X-Test-Drop-After": str(len(good) // 3)}), (200, good, {}))
    report = download_source(toy_source(urls=[http_server.url + "/toy.tar.gz"]), tmp_path / "raw", settings=FAST,
                             manifest=MANIFEST)
    assert report["counts"]["ok"] == 3 and http_server.hits["/toy.tar.gz"] == 2
    assert no_partial_files(tmp_path / "raw")


def test_every_url_failing_is_a_clear_error_naming_each_and_the_mirror_setting(tmp_path, http_server):
    good = make_tar_gz(FILES)
    http_server.route("/busy.tar.gz", (500, b"busy", {}))
    http_server.route("/cut.tar.gz", (200, good, {"X-Test-Drop-After": "100"}))
    source = toy_source(urls=[http_server.url + "/busy.tar.gz", http_server.url + "/cut.tar.gz"])
    with pytest.raises(DownloadError) as info:
        download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    message = str(info.value)
    assert f"{http_server.url}/busy.tar.gz: 500 Server Error" in message and "(after 2 attempts)" in message
    assert f"{http_server.url}/cut.tar.gz: connection closed after 100 of {len(good):,} bytes" in message
    assert "SNNBENCH_MIRROR" in message and "`mirror:`" in message
    assert http_server.hits == {"/busy.tar.gz": 2, "/cut.tar.gz": 2}
    assert not (tmp_path / "raw" / "toy").exists() and not (tmp_path / "raw" / "downloads" / "toy.tar.gz").exists()
    assert no_partial_files(tmp_path / "raw")


def test_a_wrong_checksum_falls_back_to_the_next_url(tmp_path, http_server):
    wrong = make_tar_gz({**FILES, "alpha/alpha_R.dat": FILES["alpha/alpha_R.dat"].replace(b"0.5", b"0.7")})
    http_server.route("/old.tar.gz", (200, wrong, {}))
    http_server.route("/toy.tar.gz", (200, make_tar_gz(FILES), {}))
    source = toy_source(urls=[http_server.url + "/old.tar.gz", http_server.url + "/toy.tar.gz"])
    report = download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert report["counts"] == {"ok": 3, "missing": 0, "mismatch": 0}
    assert report["members"]["alpha/alpha_R.dat"]["origin"] == http_server.url + "/toy.tar.gz"
    assert (tmp_path / "raw" / "toy" / "alpha" / "alpha_R.dat").read_bytes() == FILES["alpha/alpha_R.dat"]
    assert no_partial_files(tmp_path / "raw")


def test_a_wrong_checksum_in_the_mirror_falls_back_to_a_url(tmp_path, http_server):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "toy.tar.gz").write_bytes(make_tar_gz({**FILES, "beta/beta_R.dat": b"\tf1\tclase\n1\t9\t1\n"}))
    http_server.route("/toy.tar.gz", (200, make_tar_gz(FILES), {}))
    report = download_source(toy_source(urls=[http_server.url + "/toy.tar.gz"]), tmp_path / "raw",
                             mirror=tmp_path / "m", settings=FAST, manifest=MANIFEST)
    assert report["counts"]["ok"] == 3 and report["artifacts"][0]["origin"] == http_server.url + "/toy.tar.gz"


def test_wrong_checksums_everywhere_are_recorded_and_those_files_not_written(tmp_path, http_server):
    wrong = make_tar_gz({**FILES, "alpha/alpha_R.dat": b"\tf1\tclase\n1\t7\t0\n"})
    http_server.route("/a.tar.gz", (200, wrong, {}))
    http_server.route("/b.tar.gz", (200, wrong, {}))
    source = toy_source(urls=[http_server.url + "/a.tar.gz", http_server.url + "/b.tar.gz"])
    report = download_source(source, tmp_path / "raw", settings=FAST, manifest=MANIFEST)
    assert report["counts"] == {"ok": 2, "missing": 0, "mismatch": 1}
    reason = report["members"]["alpha/alpha_R.dat"]["reason"]
    assert reason.startswith(f"checksum mismatch for alpha/alpha_R.dat from {http_server.url}/b.tar.gz")
    assert not (tmp_path / "raw" / "toy" / "alpha" / "alpha_R.dat").exists()
    assert (tmp_path / "raw" / "toy" / "beta" / "beta_R.dat").is_file()
    assert no_partial_files(tmp_path / "raw") and http_server.hits == {"/a.tar.gz": 1, "/b.tar.gz": 1}
