"""Loading VGGish through hub.load from http(s) handles, as TF Hub and Kaggle serve it:
a compressed tarball fetched with ``?tf-hub-format=compressed``, from a real HTTP server
on 127.0.0.1. The first handle answers 403 (as tfhub.dev has, tensorflow/hub#922), the
second works, and a half-written cache folder (tensorflow/hub#896) is repaired."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from recommender.listening.embedder import Embedder, fetch_model
from recommender.listening.model_source import (
    ModelError,
    cache_folder,
    model_handles,
    model_id,
)
from scripts.standins.http_range import RangeServer


@pytest.fixture(scope="module")
def hub_server(fake_vggish: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    with tarfile.open(root / "vggish-mirror.tar.gz", "w:gz") as tar:
        for item in sorted(fake_vggish.iterdir()):
            tar.add(item, arcname=item.name)
    with RangeServer(root) as server:
        yield server


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "tfhub"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    return cache


def test_a_403_handle_falls_through_to_the_next_and_a_broken_cache_is_repaired(
    hub_server: RangeServer, hub_cache: Path, pca_params: Path
) -> None:
    forbidden, mirror = hub_server.url("forbidden-model"), hub_server.url("vggish-mirror")
    hub_server.status_for["forbidden-model"] = 403
    broken = cache_folder(mirror)
    assert broken is not None and broken.parent == hub_cache
    (broken / "variables").mkdir(parents=True)  # what an interrupted copy leaves
    (broken / "variables" / "variables.index").write_bytes(b"\0" * 10)

    embedder = Embedder(f"{forbidden}, {mirror}", pca_params)

    assert embedder.handle == mirror
    assert embedder.version.startswith(f"{forbidden}|pca:")  # one model, one cache key
    assert embedder.frames(np.zeros(16_000, np.float32)).shape == (1, 128)
    assert (broken / "saved_model.pb").is_file()
    asked = [path for path, _ in hub_server.requests]
    assert "/forbidden-model?tf-hub-format=compressed" in asked
    assert "/vggish-mirror?tf-hub-format=compressed" in asked
    # Cached now: a second load fetches nothing.
    before = len(hub_server.requests)
    handle, folder = fetch_model(f"{forbidden},{mirror}")
    assert (handle, folder) == (mirror, broken) and len(hub_server.requests) == before + 1


def test_when_every_handle_fails_each_is_named_with_its_failure(
    hub_server: RangeServer, hub_cache: Path, pca_params: Path, tmp_path: Path
) -> None:
    hub_server.status_for["gone-model"] = 404
    hub_server.status_for["forbidden-model"] = 403
    setting = ",".join(
        [hub_server.url("forbidden-model"), hub_server.url("gone-model"), str(tmp_path / "nope")]
    )
    with pytest.raises(ModelError) as raised:
        Embedder(setting, pca_params)
    message = str(raised.value)
    assert f"{hub_server.url('forbidden-model')}: HTTP Error 403" in message
    assert f"{hub_server.url('gone-model')}: HTTP Error 404" in message
    assert str(tmp_path / "nope") in message
    assert "set VGGISH_MODEL to its path" in message


def test_handles_and_the_cache_key() -> None:
    assert model_handles(" a, b\nc ") == ["a", "b", "c"]
    assert model_id("https://tfhub.dev/google/vggish/1,https://kaggle/x") == (
        "https://tfhub.dev/google/vggish/1"
    )


@pytest.mark.parametrize("damaged", ["saved_model.pb", "variables"])
def test_a_truncated_cached_model_is_fetched_again(
    damaged: str, hub_server: RangeServer, hub_cache: Path, pca_params: Path
) -> None:
    mirror = hub_server.url("vggish-mirror")
    Embedder(mirror, pca_params)  # fetched and cached
    folder = cache_folder(mirror)
    assert folder is not None
    files = (
        [folder / "saved_model.pb"]
        if damaged == "saved_model.pb"
        else [p for p in (folder / "variables").iterdir() if p.name.startswith("variables.data")]
    )
    for path in files:  # a disk that filled up, or a copy cut short
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    fetches = sum(1 for path, _ in hub_server.requests if path.startswith("/vggish-mirror"))
    embedder = Embedder(mirror, pca_params)
    assert embedder.frames(np.zeros(16_000, np.float32)).shape == (1, 128)
    again = sum(1 for path, _ in hub_server.requests if path.startswith("/vggish-mirror"))
    assert again == fetches + 1
