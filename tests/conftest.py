"""Shared fixtures: the real AudioSet sample in ../shared, and small slices of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from recommender.audioset import CLASS_LABELS_FILE, ONTOLOGY_FILE

ROOT = Path(__file__).resolve().parents[1]
AUDIOSET = Path(
    os.environ.get("EARSHOT_AUDIOSET_SAMPLE", ROOT.parent / "shared" / "data" / "audioset")
)
BAL_TRAIN = AUDIOSET / "audioset_v1_embeddings" / "bal_train"


def require_audioset() -> Path:
    """The shared sample, or a skip with the reason; under CI=true its absence fails."""
    if not BAL_TRAIN.is_dir():
        reason = f"the shared AudioSet sample is not at {AUDIOSET} (set EARSHOT_AUDIOSET_SAMPLE)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}; CI must run every test", pytrace=False)
        pytest.skip(reason)
    return AUDIOSET


@pytest.fixture(scope="session")
def audioset() -> Path:
    return require_audioset()


def make_slice(dest: Path, files: int, step: int = 1) -> Path:
    """An AudioSet-shaped folder with some of the sample's files (in a temp dir only)."""
    source = require_audioset()
    split = dest / "audioset_v1_embeddings" / "bal_train"
    split.mkdir(parents=True)
    for path in sorted(BAL_TRAIN.glob("*.tfrecord"))[: files * step : step]:
        shutil.copyfile(path, split / path.name)
    for name in (CLASS_LABELS_FILE, ONTOLOGY_FILE):
        shutil.copyfile(source / name, dest / name)
    return dest


@pytest.fixture(scope="session")
def audioset_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 2,000 clips (some 800 music clips): 400 files spread over the sample."""
    return make_slice(tmp_path_factory.mktemp("audioset-slice"), files=400, step=10)


@pytest.fixture(scope="session")
def fake_vggish(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from scripts.standins.vggish_interface import build_fake_vggish

    return build_fake_vggish(tmp_path_factory.mktemp("models") / "vggish")


@pytest.fixture(scope="session")
def pca_params() -> Path:
    return require_audioset() / "vggish_pca_params.npz"


@pytest.fixture(scope="session")
def built_catalog(audioset_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the slice ingested and indexed. Copy it before changing it."""
    from scripts.standins.cli import run_cli

    data = tmp_path_factory.mktemp("catalog")
    run_cli(data, "ingest", "--audioset", str(audioset_slice))
    run_cli(data, "reindex")
    return data
