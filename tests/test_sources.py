"""Tests of nhmg_lib.data.sources: URLs, cache lookup, manifest, and download against a local server."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import urllib3.exceptions

from nhmg_lib.data import relations as relations_module
from nhmg_lib.data import releases as releases_module
from nhmg_lib.data import sources
from nhmg_lib.data.catalog import CYCLES, FileSpec, files_for
from nhmg_lib.errors import DataDirError, DownloadError, NhmgError
from nhmg_lib.data.fetch import FetchContext, FetchFailed, classify
from nhmg_lib.data.fetch import fetch as fetch_one
from nhmg_lib.data.manifest import MANIFEST_NAME, check_xpt, manifest_hash
from nhmg_lib.data.sources import (DEFAULT_BASE_URL, DownloadReport, default_data_dir, download,
                              file_url, find_file, manual_download_instructions, missing_files)
from xpt_server import XptServer, make_xpt

SPECS = [FileSpec("DEMO", "G"), FileSpec("BMX", "G"), FileSpec("DXX", "H"), FileSpec("CBC", "J")]
FILES = {s.name: make_xpt(s.name, rows=40 + i, seed=i) for i, s in enumerate(SPECS)}
# Generous timeouts so a busy machine does not cause spurious retries; stall tests use SHORT.
FAST = dict(timeout=(2.0, 2.0), retries=2, backoff=0.01, progress=False)
SHORT = (2.0, 0.3)


@pytest.fixture
def server():
    with XptServer(FILES) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, request):
    monkeypatch.delenv("NHMG_BASE_URL", raising=False)
    monkeypatch.delenv("NHMG_DATA_DIR", raising=False)
    # The served files are small fakes under real names: judge them for structure only,
    # unless a test is about the known CDC releases.
    # (nor by the relations between the files of a cycle, which random fakes do not keep).
    if "known_releases" not in request.fixturenames:
        monkeypatch.setattr(releases_module, "releases", lambda: {})
        monkeypatch.setattr(relations_module, "check_relations", lambda *a, **k: [])


def fetch(server, data_dir, specs=SPECS, **kw):
    return download(data_dir=data_dir, base_url=server.base_url, specs=specs, **{**FAST, **kw})


def closed_port_url() -> str:
    with socket.socket() as sock:  # bind, read the port, close: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- URLs and directories -------------------------------------------------------------------

def test_file_url_default_env_and_argument(monkeypatch):
    spec = FileSpec("DEMO", "J")
    assert file_url(spec) == f"{DEFAULT_BASE_URL}/2017/DataFiles/DEMO_J.xpt"
    assert DEFAULT_BASE_URL == "https://wwwn.cdc.gov/Nchs/Data/Nhanes/Public"
    monkeypatch.setenv("NHMG_BASE_URL", "http://mirror.example/nhanes/")
    assert file_url(spec) == "http://mirror.example/nhanes/2017/DataFiles/DEMO_J.xpt"
    dxx = file_url(FileSpec("DXX", "H"), "http://other/x")  # the argument beats the environment
    assert dxx == "http://other/x/2013/DataFiles/DXX_H.xpt"


def test_base_url_without_scheme_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("NHMG_BASE_URL", "wwwn.cdc.gov/Nchs")
    with pytest.raises(DownloadError, match="not an http\\(s\\) address.*NHMG_BASE_URL"):
        file_url(SPECS[0])


def test_default_data_dir_env_and_platform_default(monkeypatch, tmp_path):
    import platformdirs
    assert default_data_dir() == Path(platformdirs.user_cache_dir("nhmg")) / "nhanes"
    monkeypatch.setenv("NHMG_DATA_DIR", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache"


def test_find_and_missing_files_ignore_letter_case(tmp_path):
    (tmp_path / "demo_g.XPT").write_bytes(FILES["DEMO_G"])
    (tmp_path / "BMX_G.Xpt").write_bytes(FILES["BMX_G"])
    (tmp_path / "DXX_G.xpt.part").write_bytes(b"partial")  # a partial download does not count
    assert find_file(tmp_path, FileSpec("DEMO", "G")) == tmp_path / "demo_g.XPT"
    assert find_file(tmp_path, FileSpec("DXX", "G")) is None
    missing = missing_files(tmp_path, ["G"])
    assert [s.name for s in missing] == [s.name for s in files_for(["G"])
                                         if s.name not in ("DEMO_G", "BMX_G")]
    assert len(missing) == len(files_for(["G"])) - 2
    assert len(missing_files(tmp_path / "absent", ["I"])) == len(files_for(["I"]))


def test_manual_instructions_list_files_urls_and_target(tmp_path):
    text = manual_download_instructions(SPECS[:2], tmp_path, "http://h/base")
    assert "DEMO_G.xpt  http://h/base/2011/DataFiles/DEMO_G.xpt" in text
    assert "BMX_G.xpt   http://h/base/2011/DataFiles/BMX_G.xpt" in text
    assert str(tmp_path) in text and "NHMG_BASE_URL" in text and "2 missing file(s)" in text


# --- happy path, reuse, corruption ------------------------------------------------------------

def test_parallel_download_writes_files_and_manifest(server, tmp_path):
    server.delay = 0.2  # long enough for the workers' requests to overlap
    report = fetch(server, tmp_path, workers=4)
    assert sorted(report.fetched) == sorted(FILES)
    assert server.max_active >= 2
    assert report.bytes_downloaded == sum(len(b) for b in FILES.values())
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]
    assert sorted(manifest) == sorted(FILES)
    for spec in SPECS:
        entry, body = manifest[spec.name], FILES[spec.name]
        assert (tmp_path / spec.filename).read_bytes() == body
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert entry["size"] == len(body)
        year = CYCLES[spec.cycle][0]
        assert entry["url"] == f"{server.base_url}/{year}/DataFiles/{spec.filename}"
        when = datetime.fromisoformat(entry["downloaded"])
        assert when.tzinfo == timezone.utc
        assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60
    assert not list(tmp_path.glob("*.part"))


def test_reuse_verifies_and_does_not_download_again(server, tmp_path):
    fetch(server, tmp_path)
    hits = dict(server.hits)
    report = fetch(server, tmp_path)
    assert dict(server.hits) == hits == {name: 1 for name in FILES}
    assert sorted(report.reused) == sorted(FILES) and report.fetched == []
    assert report.bytes_downloaded == 0


def test_corrupt_cached_file_is_set_aside_and_fetched_again(server, tmp_path):
    fetch(server, tmp_path)
    target = tmp_path / "BMX_G.xpt"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes: only the sha256 can tell
    target.write_bytes(bytes(data))
    report = fetch(server, tmp_path)
    assert report.replaced == ["BMX_G"] and report.fetched == ["BMX_G"]
    assert server.hits["BMX_G"] == 2 and server.hits["DEMO_G"] == 1
    assert target.read_bytes() == FILES["BMX_G"]
    assert (tmp_path / "BMX_G.xpt.corrupt").read_bytes() == bytes(data)


def test_files_placed_by_hand_are_validated_and_adopted(server, tmp_path):
    (tmp_path / "demo_g.XPT").write_bytes(FILES["DEMO_G"])
    (tmp_path / "BMX_G.xpt").write_bytes(FILES["BMX_G"][:-200])  # truncated copy
    report = fetch(server, tmp_path)
    assert report.adopted == ["DEMO_G"] and server.hits["DEMO_G"] == 0
    assert report.replaced == ["BMX_G"] and server.hits["BMX_G"] == 1
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]
    assert manifest["DEMO_G"]["file"] == "demo_g.XPT" and manifest["DEMO_G"]["url"] is None
    assert "placed by hand" in str(report)


def test_unreadable_manifest_revalidates_instead_of_refetching(server, tmp_path):
    fetch(server, tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    report = fetch(server, tmp_path)
    assert sorted(report.adopted) == sorted(FILES) and sum(server.hits.values()) == len(FILES)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["files"].keys() == FILES.keys()


def test_leftover_partial_file_is_resumed_with_range_and_if_range(server, tmp_path):
    etag = server.etag("DEMO_G")
    (tmp_path / "DEMO_G.xpt.part").write_bytes(FILES["DEMO_G"][:400])
    (tmp_path / "DEMO_G.xpt.part.validator").write_text(etag + "\n")
    fetch(server, tmp_path, specs=SPECS[:1])
    assert server.ranges == [("DEMO_G", "bytes=400-")]
    assert server.if_ranges == [("DEMO_G", etag)]
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]
    assert not (tmp_path / "DEMO_G.xpt.part.validator").exists()


def test_leftover_partial_file_without_validator_is_fetched_from_the_start(server, tmp_path):
    # Bytes of another release: resuming them without If-Range would splice two files.
    (tmp_path / "DEMO_G.xpt.part").write_bytes(FILES["BMX_G"][:400])
    fetch(server, tmp_path, specs=SPECS[:1])
    assert server.ranges == [("DEMO_G", None)]
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]


def test_changed_file_on_resume_comes_whole(server, tmp_path):
    # The partial file came from an older release (its ETag); the server now has another.
    old = make_xpt("DEMO_G", rows=40, seed=99)
    (tmp_path / "DEMO_G.xpt.part").write_bytes(old[:400])
    (tmp_path / "DEMO_G.xpt.part.validator").write_text('"old-release"\n')
    fetch(server, tmp_path, specs=SPECS[:1])
    assert server.ranges == [("DEMO_G", "bytes=400-")]  # asked to resume, got a 200
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]


def test_progress_bar_counts_bytes(server, tmp_path, capsys):
    fetch(server, tmp_path, specs=SPECS[:2], progress=True)
    err = capsys.readouterr().err
    assert "NHANES files" in err and "100%" in err


def test_report_str_is_one_readable_line(tmp_path):
    report = DownloadReport(tmp_path, fetched=["A", "B"], reused=["C"], replaced=["B"],
                            bytes_downloaded=2_500_000, seconds=3.21)
    assert str(report) == (f"NHANES data in {tmp_path}: fetched 2 file(s) (2.5 MB), reused 1 "
                           "verified file(s), replaced 1 corrupt file(s) in 3.2 s.")


# --- faults ---------------------------------------------------------------------------------

FAULTS = {  # fault -> (text in the error, requests made with retries=2)
    "404": ("404", 1),
    "500": ("answered 500", 3),
    "html": ("not an XPT file: the server sent an HTML page", 1),
    "stall": ("read timeout", 3),
    "stall_headers": ("read timeout", 3),
    "truncate": ("truncated", 3),
    "drop": ("connection dropped before a response", 3),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_ends_in_a_clear_error_and_no_final_file(server, tmp_path, fault):
    text, requests_made = FAULTS[fault]
    server.fault("BMX_G", *[fault] * 5)
    timeout = SHORT if fault.startswith("stall") else FAST["timeout"]
    with pytest.raises(DownloadError) as caught:
        fetch(server, tmp_path, specs=SPECS[:2], timeout=timeout)
    message = str(caught.value)
    assert text in message
    assert f"BMX_G.xpt from {server.base_url}/2011/DataFiles/BMX_G.xpt" in message
    assert "NHMG_BASE_URL" in message and str(tmp_path) in message
    assert isinstance(caught.value, NhmgError) and list(caught.value.failures) == ["BMX_G"]
    assert server.hits["BMX_G"] == requests_made
    assert find_file(tmp_path, FileSpec("BMX", "G")) is None
    assert caught.value.report.fetched == ["DEMO_G"]  # the healthy file still landed
    assert "BMX_G" not in json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]


@pytest.mark.parametrize("fault", ["500", "truncate", "drop", "stall"])
def test_transient_fault_is_retried_and_recovers(server, tmp_path, fault):
    server.fault("DEMO_G", fault)
    report = fetch(server, tmp_path, specs=SPECS[:1], timeout=SHORT)
    assert report.fetched == ["DEMO_G"] and server.hits["DEMO_G"] == 2
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]


def test_truncated_body_resumes_with_range_or_restarts(tmp_path):
    # Big enough for several 64 KiB chunks, so some of the truncated body reaches the disk.
    big = {"DEMO_G": make_xpt("DEMO_G", rows=20_000), "BMX_G": make_xpt("BMX_G", rows=20_000)}
    with XptServer(big) as server:
        server.fault("DEMO_G", "truncate")
        server.fault("BMX_G", "truncate", "no_range")  # a server that ignores Range: start over
        fetch(server, tmp_path, specs=SPECS[:2])
    resumed = {name: rng for name, rng in server.ranges if rng}
    assert sorted(resumed) == ["BMX_G", "DEMO_G"]
    start = int(resumed["DEMO_G"][len("bytes="):-1])
    assert 0 < start <= len(big["DEMO_G"]) // 2  # resumed from what had arrived, not from 0
    assert server.hits["DEMO_G"] == 2 and server.hits["BMX_G"] == 2
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == big["DEMO_G"]
    assert (tmp_path / "BMX_G.xpt").read_bytes() == big["BMX_G"]


def test_offline_fails_fast_with_manual_instructions(tmp_path):
    base = closed_port_url()
    start = time.monotonic()
    with pytest.raises(DownloadError) as caught:
        download(["G", "H"], data_dir=tmp_path, base_url=base, progress=False)  # default timings
    elapsed = time.monotonic() - start
    assert elapsed < 30
    assert elapsed < 5  # a refused connection is retried once, then every transfer stops
    message = str(caught.value)
    assert message.startswith(f"Cannot reach the NHANES server at {base}: cannot connect to "
                              "the server: the connection was refused.")
    for spec in files_for(["G", "H"]):
        assert f"{spec.filename}" in message and file_url(spec, base) in message
    assert f"{len(files_for(['G', 'H']))} missing file(s)" in message
    assert not [p for p in tmp_path.iterdir() if p.suffix.lower() == ".xpt"]


def test_connect_timeout_counts_as_unreachable():
    failed = classify(requests.ConnectTimeout("connect timed out"), timeout=(3, 60))
    assert failed.kind == "unreachable"
    assert failed.reason == "cannot connect to the server: no answer within the 3 s connect timeout"
    dns = urllib3.exceptions.NameResolutionError("x.invalid", None, socket.gaierror(-2, "no"))
    wrapped = requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", dns))
    assert classify(wrapped, timeout=(3, 60)).reason == \
        "cannot connect to the server: the host name could not be resolved"
    assert classify(requests.ReadTimeout("read timed out"), timeout=(3, 2)).reason == \
        "the server stalled: no data for 2 s (read timeout)"


def test_cancelled_run_makes_no_request(server, tmp_path):
    ctx = FetchContext(timeout=(1, 1), retries=3, backoff=0.01)
    ctx.cancelled.set()
    with pytest.raises(FetchFailed) as caught:
        fetch_one(f"{server.base_url}/2011/DataFiles/DEMO_G.xpt", tmp_path / "p.part", ctx)
    assert caught.value.kind == "cancelled" and sum(server.hits.values()) == 0


# --- data directory ---------------------------------------------------------------------------

def test_unusable_data_dir_fails_before_any_request(server, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # fails even for root, unlike chmod
    with pytest.raises(DataDirError, match=r"a-file/nhanes cannot be used.*NHMG_DATA_DIR"):
        fetch(server, blocker / "nhanes")
    blocker_as_dir = tmp_path / "a-file"
    with pytest.raises(DataDirError, match="it exists but is not a directory"):
        fetch(server, blocker_as_dir)
    assert sum(server.hits.values()) == 0
    assert blocker.read_text() == "not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_data_dir_fails_before_any_request(server, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(DataDirError, match="Permission denied"):
        fetch(server, ro)
    assert sum(server.hits.values()) == 0


def test_complete_read_only_directory_is_accepted(server, tmp_path, monkeypatch):
    (tmp_path / "DEMO_G.xpt").write_bytes(FILES["DEMO_G"])

    def read_only(*args):  # what a read-only mount does; chmod would not stop root
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sources, "save_manifest", read_only)
    report = fetch(server, tmp_path, specs=SPECS[:1])
    assert report.adopted == ["DEMO_G"] and sum(server.hits.values()) == 0
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_environment_selects_data_dir_and_server(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NHMG_DATA_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("NHMG_BASE_URL", server.base_url + "/")
    report = download(specs=SPECS[:1], **FAST)
    assert report.data_dir == tmp_path / "from-env"
    assert (tmp_path / "from-env" / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "nhanes-public-subset"


@pytest.mark.skipif(not REAL.is_dir(), reason="real NHANES subset ../shared/data not present")
def test_real_nhanes_files_pass_validation_and_match_published_checksums(tmp_path):
    sums = dict(line.split()[::-1] for line in (REAL / "SHA256SUMS").read_text().splitlines())
    names = ["GHB_J", "HSCRP_J", "DEMO_G"]
    with XptServer({n: (REAL / f"{n}.xpt").read_bytes() for n in names}) as server:
        report = download(data_dir=tmp_path, base_url=server.base_url,
                          specs=[FileSpec(*n.split("_")) for n in names], **FAST)
    assert sorted(report.fetched) == sorted(names)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]
    for name in names:
        assert manifest[name]["sha256"] == sums[f"{name}.xpt"]


# --- validation and cache key ---------------------------------------------------------------

def test_check_xpt_names_the_problem(tmp_path):
    path = tmp_path / "x.xpt"
    path.write_bytes(FILES["DEMO_G"])
    assert check_xpt(path) is None
    assert check_xpt(path, expected_size=len(FILES["DEMO_G"]) + 80).startswith("truncated")
    path.write_bytes(FILES["DEMO_G"][:-7])
    assert "80-byte" in check_xpt(path)
    path.write_bytes(b"<html><body>moved</body></html>")
    assert "HTML page" in check_xpt(path)
    path.write_bytes(FILES["DEMO_G"][:80] + b"\0" * 400)
    assert "pyreadstat" in check_xpt(path)


def test_manifest_hash_depends_on_contents_only(server, tmp_path):
    assert manifest_hash(tmp_path / "absent") == hashlib.sha256(b"").hexdigest()[:16]
    fetch(server, tmp_path)
    key = manifest_hash(tmp_path)
    assert len(key) == 16 and key == sources.manifest_hash(tmp_path)
    (tmp_path / MANIFEST_NAME).unlink()  # without a manifest the files are hashed: same key
    assert manifest_hash(tmp_path) == key
    (tmp_path / "DEMO_G.xpt").rename(tmp_path / "demo_g.XPT")
    assert manifest_hash(tmp_path) == key
    (tmp_path / "demo_g.XPT").write_bytes(FILES["BMX_G"])
    assert manifest_hash(tmp_path) != key


# --- known CDC releases and untrustworthy servers -------------------------------------------

def test_no_content_length_and_truncated_body_is_never_stored(server, tmp_path):
    big = make_xpt("DEMO_G", rows=5_000)
    with XptServer({"DEMO_G": big}) as srv:
        srv.fault("DEMO_G", *["no_length"] * 5)
        with pytest.raises(DownloadError) as caught:
            fetch(srv, tmp_path, specs=SPECS[:1])
    assert srv.hits["DEMO_G"] == 3
    # The first body's end was not confirmed, so the rest was asked for (with If-Range) ...
    assert [r for _, r in srv.ranges][1].startswith("bytes=")
    assert srv.if_ranges[0] == ("DEMO_G", srv.etag("DEMO_G"))
    assert "truncated" in caught.value.failures["DEMO_G"].reason
    assert find_file(tmp_path, SPECS[0]) is None  # ... and nothing was stored as whole


def test_no_content_length_then_whole_body_is_stored(tmp_path):
    big = make_xpt("DEMO_G", rows=5_000)
    with XptServer({"DEMO_G": big}) as srv:
        srv.fault("DEMO_G", "no_length")
        report = fetch(srv, tmp_path, specs=SPECS[:1])
    assert report.fetched == ["DEMO_G"] and (tmp_path / "DEMO_G.xpt").read_bytes() == big
    assert srv.hits["DEMO_G"] == 2 and srv.ranges[1][1] == f"bytes={len(big) // 2 // 80 * 80}-"


def test_body_without_content_length_is_confirmed_whole_by_a_range_probe(tmp_path):
    with XptServer({"DEMO_G": FILES["DEMO_G"]}) as srv:
        srv.fault("DEMO_G", "whole_no_length")
        report = fetch(srv, tmp_path, specs=SPECS[:1])
    assert report.fetched == ["DEMO_G"] and srv.hits["DEMO_G"] == 2
    assert srv.ranges[1] == ("DEMO_G", f"bytes={len(FILES['DEMO_G'])}-")  # answered 416


def test_wrong_file_served_under_a_name_is_refused(tmp_path):
    with XptServer({"DEMO_G": FILES["BMX_G"], "BMX_G": FILES["BMX_G"]}) as srv:
        with pytest.raises(DownloadError) as caught:
            fetch(srv, tmp_path, specs=SPECS[:2])
    assert "holds the data set BMX_G, not DEMO_G" in str(caught.value)
    assert srv.hits["DEMO_G"] == 1  # a whole body with the wrong data set: not retried
    assert find_file(tmp_path, SPECS[0]) is None and caught.value.report.fetched == ["BMX_G"]


def test_a_wrong_file_recorded_as_verified_is_fetched_again(server, tmp_path):
    fetch(server, tmp_path, specs=SPECS[:2])
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    (tmp_path / "DEMO_G.xpt").write_bytes(FILES["BMX_G"])  # and the manifest says it is fine
    manifest["files"]["DEMO_G"].update(size=len(FILES["BMX_G"]),
                                       sha256=hashlib.sha256(FILES["BMX_G"]).hexdigest())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    report = fetch(server, tmp_path, specs=SPECS[:2])
    assert report.replaced == ["DEMO_G"] and report.reused == ["BMX_G"]
    assert (tmp_path / "DEMO_G.xpt").read_bytes() == FILES["DEMO_G"]


@pytest.fixture
def known_releases():
    """Judge files against the shipped table of CDC releases (see ``_clean_env``)."""


def test_hand_placed_file_with_rows_missing_is_replaced(tmp_path, known_releases):
    # A DEMO_J of the known CDC release size would have 9,254 rows; this one has 40.
    with XptServer({"DEMO_J": FILES["DEMO_G"]}) as srv:
        (tmp_path / "DEMO_J.xpt").write_bytes(make_xpt("DEMO_J", rows=40))
        with pytest.raises(DownloadError) as caught:
            fetch(srv, tmp_path, specs=[FileSpec("DEMO", "J")])
    message = str(caught.value)
    assert "it has 40 rows, the CDC release has 9,254" in message
    assert (tmp_path / "DEMO_J.xpt.corrupt").exists() and not (tmp_path / "DEMO_J.xpt").exists()


def _label_synthetic(folder: Path) -> None:
    """The generator's label, with its record of every .xpt file in ``folder``."""
    record = "".join(f"file sha256: {hashlib.sha256(p.read_bytes()).hexdigest()} {p.name}\n"
                     for p in sorted(folder.glob("*.xpt")))
    (folder / "SYNTHETIC").write_text("synthetic\n" + record)


def test_synthetic_directory_becomes_real_and_loses_its_marker(server, tmp_path):
    for spec in SPECS:
        (tmp_path / spec.filename).write_bytes(make_xpt(spec.name, rows=3, seed=7))
    _label_synthetic(tmp_path)
    (tmp_path / ".nhmg-generator").write_text("x\n")
    report = fetch(server, tmp_path)
    assert sorted(report.fetched) == sorted(FILES)
    assert not (tmp_path / "SYNTHETIC").exists() and not (tmp_path / ".nhmg-generator").exists()
    assert all((tmp_path / f"{n}.xpt").read_bytes() == b for n, b in FILES.items())


def test_partly_real_directory_stays_marked_synthetic(server, tmp_path):
    for spec in SPECS:
        (tmp_path / spec.filename).write_bytes(make_xpt(spec.name, rows=3, seed=7))
    _label_synthetic(tmp_path)
    report = fetch(server, tmp_path, specs=SPECS[:2])  # the other two stay synthetic
    assert sorted(report.fetched) == ["BMX_G", "DEMO_G"]
    assert (tmp_path / "SYNTHETIC").exists()


def test_a_stray_synthetic_label_does_not_replace_real_files(server, tmp_path):
    fetch(server, tmp_path)
    hits = dict(server.hits)
    (tmp_path / "SYNTHETIC").write_text("synthetic\n")  # no record of generated files
    report = fetch(server, tmp_path)
    assert report.fetched == [] and sorted(report.reused) == sorted(FILES)
    assert dict(server.hits) == hits


def test_two_downloads_into_one_directory_take_turns(tmp_path):
    import threading

    tmp_path = tmp_path / "new"  # not there yet: the first run creates it and takes the lock
    with XptServer(FILES, delay=0.3) as srv:
        errors, reports = [], []

        def run():
            try:
                reports.append(fetch(srv, tmp_path))
            except Exception as exc:  # pragma: no cover - the assertion below shows it
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert sorted(len(r.fetched) for r in reports) == [0, len(FILES)]  # the second reused all
    assert sum(srv.hits.values()) == len(FILES)
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["files"].keys() == FILES.keys()


def test_overall_deadline_stops_a_trickle_and_keeps_the_partial_file(tmp_path):
    big = make_xpt("DEMO_G", rows=40_000)
    with XptServer({"DEMO_G": big}) as srv:
        srv.fault("DEMO_G", "stall")  # a few bytes, then nothing for longer than the limit
        start = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            fetch(srv, tmp_path, specs=SPECS[:1], timeout=(2.0, 0.3), deadline=0.2)
    assert time.monotonic() - start < 5
    assert "time limit of 0.2 s" in str(caught.value) or "read timeout" in str(caught.value)


def test_the_deadline_stops_a_trickling_server_within_seconds(tmp_path):
    # Bytes keep arriving (64 every 50 ms, never a read-timeout silence), so only the overall
    # limit can stop it; it must do so at once, not when a large read buffer fills.
    big = make_xpt("DEMO_G", rows=40_000)
    with XptServer({"DEMO_G": big}) as srv:
        srv.fault("DEMO_G", "trickle")
        start = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            fetch(srv, tmp_path, specs=SPECS[:1], timeout=(2.0, 20.0), deadline=1.5)
        elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 4.5
    assert "the overall time limit of 1.5 s passed" in str(caught.value)
    part = tmp_path / "DEMO_G.xpt.part"
    assert 0 < part.stat().st_size < len(big)  # kept for the next run, which resumes it
    assert big.startswith(part.read_bytes())


def test_the_deadline_ends_a_silent_wait_before_the_read_timeout(tmp_path):
    with XptServer({"DEMO_G": FILES["DEMO_G"]}) as srv:
        srv.fault("DEMO_G", "stall_headers")  # nothing at all, for 30 s
        start = time.monotonic()
        with pytest.raises(DownloadError, match="time limit of 1 s"):
            fetch(srv, tmp_path, specs=SPECS[:1], timeout=(2.0, 20.0), deadline=1.0)
        assert time.monotonic() - start < 4


def test_cancel_ends_a_transfer_blocked_on_a_silent_server(tmp_path):
    import threading

    with XptServer({"DEMO_G": FILES["DEMO_G"]}) as srv:
        srv.fault("DEMO_G", "stall")  # headers and a few bytes, then silence
        ctx = FetchContext(timeout=(2.0, 20.0), retries=3, backoff=1.0)
        threading.Timer(0.5, ctx.interrupt).start()
        start = time.monotonic()
        with pytest.raises(FetchFailed) as caught:
            fetch_one(f"{srv.base_url}/2011/DataFiles/DEMO_G.xpt", tmp_path / "DEMO_G.xpt.part", ctx)
        assert time.monotonic() - start < 3
    assert caught.value.kind == "cancelled"


def test_plain_progress_lines_for_logs(server, tmp_path):
    lines = []
    fetch(server, tmp_path, specs=SPECS[:2], log=lines.append)
    assert len(lines) == 2
    assert {line.split()[1] for line in lines} == {"DEMO_G.xpt", "BMX_G.xpt"}
    assert {line.rsplit(" ", 1)[1] for line in lines} == {"[1/2]", "[2/2]"}
    assert all(", unknown)" in line and "\n" not in line for line in lines)


def test_xpt_version_8_is_an_xpt_file(tmp_path):
    import pandas as pd
    import pyreadstat

    path = tmp_path / "v8.xpt"
    pyreadstat.write_xport(pd.DataFrame({"SEQN": [1.0, 2.0, 3.0], "X": [4.0, 5.0, 6.0]}), str(path))
    assert path.read_bytes().startswith(b"HEADER RECORD*******LIBV8")
    assert check_xpt(path) is None


def test_cancel_ends_a_backoff_wait_at_once(server, tmp_path):
    import threading

    server.fault("DEMO_G", "500")
    ctx = FetchContext(timeout=(2.0, 2.0), retries=3, backoff=30.0)
    threading.Timer(0.3, ctx.cancelled.set).start()
    start = time.monotonic()
    with pytest.raises(FetchFailed) as caught:
        fetch_one(f"{server.base_url}/2011/DataFiles/DEMO_G.xpt", tmp_path / "DEMO_G.xpt.part", ctx)
    assert caught.value.kind == "cancelled" and time.monotonic() - start < 5


def test_a_stalled_server_fails_within_the_documented_bound(tmp_path):
    import inspect

    from nhmg_lib.data.fetch import READ_TIMEOUT, stall_bound

    # the defaults: a 20-30 s read timeout, so a stall fails in well under two minutes
    defaults = inspect.signature(download).parameters
    assert defaults["timeout"].default == (5.0, READ_TIMEOUT) and 20 <= READ_TIMEOUT <= 30
    assert stall_bound() == 4 * READ_TIMEOUT + 1 + 2 + 4 < 120
    # the same arithmetic, measured against the local server stalling at every attempt
    timeout, retries, backoff = (2.0, 0.5), 2, 0.05
    with XptServer({"DEMO_G": FILES["DEMO_G"]}) as srv:
        srv.fault("DEMO_G", *["stall"] * 5)
        start = time.monotonic()
        with pytest.raises(DownloadError) as caught:
            download(data_dir=tmp_path, base_url=srv.base_url, specs=SPECS[:1], timeout=timeout,
                     retries=retries, backoff=backoff, progress=False)
        elapsed = time.monotonic() - start
        assert srv.hits["DEMO_G"] == retries + 1
    bound = stall_bound(timeout, retries, backoff)
    assert bound == pytest.approx(3 * 0.5 + 0.05 + 0.1)
    assert (retries + 1) * timeout[1] <= elapsed <= bound + 2.0   # 2 s for a busy machine
    assert "the server stalled: no data for 0.5 s (read timeout) (gave up after 3 attempts)" \
        in str(caught.value)


def test_the_cli_read_timeout_reaches_the_download(tmp_path, capsys):
    from nhmg_lib.cli import main

    with XptServer({"DEMO_G": FILES["DEMO_G"]}) as srv:
        srv.fault("DEMO_G", *["stall"] * 5)
        code = main(["download", "--cycles", "G", "--data-dir", str(tmp_path), "--base-url",
                     srv.base_url, "--read-timeout", "0.3", "--deadline", "20"])
    assert code == 2
    assert "no data for 0.3 s (read timeout)" in capsys.readouterr().err
    assert main(["download", "--data-dir", str(tmp_path), "--read-timeout", "0"]) == 2
    assert "--read-timeout 0.0: must be a positive number" in capsys.readouterr().err
