"""VGGish's interface through hub.load, its framing, and the official postprocessing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recommender.index.tagger import dequantize
from recommender.listening.embedder import (
    MIN_SAMPLES,
    AudioTooShortError,
    Embedder,
    ModelError,
    PcaParams,
    expected_frames,
)
from recommender.listening.listener import Listener
from scripts.standins.http_range import RangeServer
from tests.conftest import engine_settings


@pytest.fixture(scope="module")
def embedder(fake_vggish: Path, pca_params: Path) -> Embedder:
    return Embedder(str(fake_vggish), pca_params)


@pytest.mark.parametrize(
    ("seconds", "frames"), [(0.5, 0), (0.975, 1), (1.0, 1), (1.95, 2), (10, 10), (30, 31)]
)
def test_framing_arithmetic(seconds: float, frames: int) -> None:
    assert expected_frames(round(seconds * 16_000)) == frames


def test_model_output_follows_vggish_framing(embedder: Embedder) -> None:
    rng = np.random.default_rng(0)
    for seconds in (1.0, 10.0, 30.0):
        wave = rng.uniform(-0.5, 0.5, int(seconds * 16_000)).astype(np.float32)
        frames = embedder.frames(wave)
        assert frames.dtype == np.uint8
        assert frames.shape == (expected_frames(len(wave)), 128)
    assert embedder.frames(np.zeros(16_000 * 30, np.float32)).shape == (31, 128)


def test_different_audio_gives_different_frames(embedder: Embedder) -> None:
    t = np.arange(16_000 * 3) / 16_000
    low = embedder.frames((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    high = embedder.frames((0.5 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32))
    again = embedder.frames((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert np.array_equal(low, again)
    assert np.abs(low.astype(int) - high.astype(int)).mean() > 5


def test_too_short_audio_is_a_clear_error(embedder: Embedder) -> None:
    with pytest.raises(AudioTooShortError, match=r"needs at least 0\.975 s"):
        embedder.frames(np.zeros(MIN_SAMPLES - 1, np.float32))


def test_postprocess_matches_the_official_formula(pca_params: Path) -> None:
    pca = PcaParams(pca_params)
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 0.3, (5, 128)) + pca.means
    expected = np.clip((raw - pca.means) @ pca.eigen_vectors.T, -2, 2)
    quantized = pca.postprocess(raw)
    assert quantized.dtype == np.uint8
    # Dequantizing as the catalog is dequantized gives the PCA values back within a step.
    assert np.abs(dequantize(quantized) - expected).max() <= 4 / 255 + 1e-6


def test_bad_model_and_params_are_clear_errors(tmp_path: Path, pca_params: Path) -> None:
    with pytest.raises(ModelError, match="cannot load the VGGish model"):
        Embedder(str(tmp_path / "missing-model"), pca_params)
    broken = tmp_path / "pca.npz"
    np.savez(broken, pca_means=np.zeros(3))
    with pytest.raises(ModelError, match="cannot read the VGGish PCA parameters"):
        PcaParams(broken)
    damaged = bytearray(pca_params.read_bytes())  # flipped bytes: zipfile's own errors
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = bytes(64)
    broken.write_bytes(bytes(damaged[: len(damaged) - 100]))
    with pytest.raises(ModelError, match=r"cannot read the VGGish PCA parameters.*setup"):
        PcaParams(broken)


async def test_earshots_own_pca_params_are_fetched_again_when_damaged(
    tmp_path: Path, pca_params: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(pca_params, served / "vggish_pca_params.npz")
    data = tmp_path / "data"
    data.mkdir()
    own = data / "vggish_pca_params.npz"
    wrong = bytearray(pca_params.read_bytes())
    wrong[-200] ^= 0xFF  # loads fine, gives wrong results silently
    own.write_bytes(bytes(wrong))
    with RangeServer(served) as server:
        settings = engine_settings(
            data_dir=data, pca_params_url=server.url("vggish_pca_params.npz")
        )
        assert settings.pca_params is None and settings.pca_params_path == own
        await Listener(settings, None).ensure_pca_params()  # type: ignore[arg-type]
        assert own.read_bytes() == pca_params.read_bytes()
        asked = len(server.requests)
        await Listener(settings, None).ensure_pca_params()  # type: ignore[arg-type]
        assert len(server.requests) == asked  # whole again: not fetched twice


def test_long_audio_in_chunks_equals_one_call(embedder: Embedder) -> None:
    rng = np.random.default_rng(3)
    wave = rng.uniform(-0.5, 0.5, 16_000 * 75 + 1234).astype(np.float32)  # > 2 chunks
    whole = embedder.pca.postprocess(embedder.raw(wave))
    assert np.array_equal(embedder.frames(wave), whole)


def test_listen_threads_bound_tensorflow_in_a_fresh_process(
    fake_vggish: Path, pca_params: Path
) -> None:
    """LISTEN_THREADS=1: the listening process's TensorFlow runs one intra- and one
    inter-op thread (a worker per core then has its core to itself)."""
    script = (
        "import sys, tensorflow as tf\n"
        "from pathlib import Path\n"
        "from recommender.listening.embedder import Embedder\n"
        "Embedder(sys.argv[1], Path(sys.argv[2]), threads=1)\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(),"
        " tf.config.threading.get_inter_op_parallelism_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(fake_vggish), str(pca_params)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1"]
