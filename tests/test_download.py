"""`ingest --download` against a real HTTP server on 127.0.0.1 with Range support."""

from __future__ import annotations

import hashlib
import io
import ssl
import tarfile
from pathlib import Path

import pytest

from recommender.audioset.download import DownloadError, fetch, redirect_refusal
from scripts.standins.cli import run_cli, run_json
from scripts.standins.http_range import RangeServer


@pytest.fixture()
def release(audioset_slice: Path, tmp_path: Path) -> Path:
    """A small features.tar.gz in the official layout, plus the two metadata files."""
    root = tmp_path / "www"
    root.mkdir()
    split = audioset_slice / "audioset_v1_embeddings" / "bal_train"
    with tarfile.open(root / "features.tar.gz", "w:gz") as tar:
        for path in sorted(split.glob("*.tfrecord"))[:60]:
            tar.add(path, arcname=f"audioset_v1_embeddings/bal_train/{path.name}")
        note = b"not a tfrecord"
        info = tarfile.TarInfo("audioset_v1_embeddings/README.txt")
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    for name in ("class_labels_indices.csv", "ontology.json"):
        (root / name).write_bytes((audioset_slice / name).read_bytes())
    return root


def _env(server: RangeServer, sha: str) -> dict[str, str]:
    return {
        "AUDIOSET_FEATURES_URL": server.url("features.tar.gz"),
        "AUDIOSET_FEATURES_SHA256": sha,
        "AUDIOSET_CLASS_LABELS_URL": server.url("class_labels_indices.csv"),
        "AUDIOSET_ONTOLOGY_URL": server.url("ontology.json"),
    }


def test_interrupted_download_resumes_with_range_and_ingests(release: Path, tmp_path: Path) -> None:
    tarball = (release / "features.tar.gz").read_bytes()
    sha = hashlib.sha256(tarball).hexdigest()
    data = tmp_path / "data"
    with RangeServer(release) as server:
        server.cut_after["features.tar.gz"] = len(tarball) // 3
        first = run_cli(data, "ingest", "--download", check=False, **_env(server, sha))
        assert first.returncode == 1
        assert "interrupted" in first.stderr and "run the command again" in first.stderr
        part = data / "audioset" / "features.tar.gz.part"
        assert part.stat().st_size == len(tarball) // 3
        second = run_cli(data, "ingest", "--download", **_env(server, sha))
        ranges = [r for path, r in server.requests if path == "/features.tar.gz"]
        assert ranges[-1] == f"bytes={len(tarball) // 3}-"
    assert "music clips added" in second.stdout
    extracted = sorted((data / "audioset" / "audioset_v1_embeddings" / "bal_train").iterdir())
    assert len(extracted) == 60 and all(p.suffix == ".tfrecord" for p in extracted)
    assert not (data / "audioset" / "features.tar.gz").exists()  # removed once extracted
    assert run_json(data, "stats")["ingest"]["files"] == 60


def test_corrupt_download_is_refused_and_deleted(release: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with RangeServer(release) as server:
        result = run_cli(data, "ingest", "--download", check=False, **_env(server, "0" * 64))
    assert result.returncode == 1 and "is corrupt" in result.stderr
    assert not (data / "audioset" / "features.tar.gz.part").exists()
    assert run_json(data, "stats")["tracks"] == 0


def test_fetch_restarts_when_the_server_ignores_ranges(release: Path, tmp_path: Path) -> None:
    dest = tmp_path / "ontology.json"
    dest.with_name("ontology.json.part").write_bytes(b"stale partial content")
    with RangeServer(release) as server:
        server.ignore_range = True
        fetch(server.url("ontology.json"), dest)
    assert dest.read_bytes() == (release / "ontology.json").read_bytes()


def test_missing_file_is_a_clear_error(release: Path, tmp_path: Path) -> None:
    with RangeServer(release) as server, pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url("nope.bin"), tmp_path / "nope.bin")


# --- where a download may be sent -----------------------------------------------------


def test_redirects_are_followed_only_where_they_are_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trustme

    www = tmp_path / "www"
    www.mkdir()
    (www / "params.npz").write_bytes(b"parameters" * 100)
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # this process trusts the test CA
    with RangeServer(www) as plain, RangeServer(www, tls=context) as secure:
        # A mirror that moved within the same kind of address: followed.
        plain.redirect_for["old.npz"] = plain.url("params.npz")
        assert fetch(plain.url("old.npz"), tmp_path / "a.npz").read_bytes() == b"parameters" * 100
        secure.redirect_for["moved.npz"] = secure.url("params.npz")
        assert fetch(secure.url("moved.npz"), tmp_path / "b.npz").stat().st_size == 1000
        # From https down to plain http: refused, nothing written.
        secure.redirect_for["down.npz"] = plain.url("params.npz")
        with pytest.raises(DownloadError, match="redirected from https down to plain http"):
            fetch(secure.url("down.npz"), tmp_path / "c.npz")
        assert not list(tmp_path.glob("c.npz*"))
        assert (plain.requests[-1][0], len(plain.requests)) == ("/params.npz", 2)


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("https://127.0.0.1/x", "into this machine's own network (127.0.0.1)"),
        ("https://169.254.169.254/latest/meta-data/", "own network (169.254.169.254)"),
        ("https://10.1.2.3/x", "own network (10.1.2.3)"),
        ("https://[::1]/x", "own network (::1)"),
        ("https://localhost/x", "own network (localhost)"),
        ("file:///etc/passwd", "not the web"),
        ("http://93.184.216.35/x", "from https down to plain http"),
        ("https://93.184.216.35/x", ""),
    ],
)
def test_a_redirect_from_the_internet_stays_on_the_internet(new: str, why: str) -> None:
    """Decided from the addresses alone (no request made): IP literals, and localhost."""
    refusal = redirect_refusal("https://93.184.216.34/features.tar.gz", new)
    assert (why in refusal) if why else refusal == ""
