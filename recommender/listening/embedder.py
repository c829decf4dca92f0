"""VGGish through ``tensorflow_hub``, and the official AudioSet PCA postprocessing.

VGGish takes a 1-D float32 waveform at 16 kHz in [-1, 1] and returns one raw 128-d
embedding per 0.96 s. AudioSet's released frames went through PCA with whitening,
clipping to [-2, 2] and 8-bit quantization; queries go through exactly the same steps so
that they land in the catalog's space. TensorFlow is imported here only, and this module
is loaded only in worker processes and the setup command.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from ..errors import EarshotError
from ..vggish_format import (
    EMBEDDING_SIZE,
    EXAMPLE_FRAMES,
    EXAMPLE_HOP,
    MIN_SAMPLES,
    SAMPLE_RATE,
    STFT_HOP,
    STFT_WINDOW,
)
from .model_source import ModelError, first_that_works, model_id

__all__ = [
    "MIN_SAMPLES",
    "AudioTooShortError",
    "Embedder",
    "ModelError",
    "PcaParams",
    "fetch_model",
]

log = logging.getLogger(__name__)

CHUNK_EXAMPLES = 32  # examples per model call: bounds activation memory for long songs
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0
# sha256 of Google's vggish_pca_params.npz (the file released with AudioSet's features).
PCA_PARAMS_SHA256 = "4d878af3e306defbfb37095365aa7e5a6cecb86bad13e859e626151c4e6a8b9d"


class AudioTooShortError(EarshotError):
    pass


def expected_frames(num_samples: int) -> int:
    """How many embeddings VGGish returns for a waveform of ``num_samples`` samples."""
    if num_samples < STFT_WINDOW:
        return 0
    stft_frames = 1 + (num_samples - STFT_WINDOW) // STFT_HOP
    if stft_frames < EXAMPLE_FRAMES:
        return 0
    return 1 + (stft_frames - EXAMPLE_FRAMES) // EXAMPLE_FRAMES


class PcaParams:
    def __init__(self, path: Path) -> None:
        try:
            with np.load(path) as data:
                self.eigen_vectors = np.asarray(data["pca_eigen_vectors"], dtype=np.float64)
                self.means = np.asarray(data["pca_means"], dtype=np.float64).reshape(-1)
        except Exception as exc:  # a damaged file fails numpy and zipfile in many ways
            raise ModelError(
                f"cannot read the VGGish PCA parameters at {path} "
                f"({type(exc).__name__}: {exc}); fetch them again with "
                "`python -m recommender setup`"
            ) from None
        size = EMBEDDING_SIZE
        if self.eigen_vectors.shape != (size, size) or self.means.shape != (size,):
            raise ModelError(f"{path} does not hold 128x128 PCA parameters")
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def postprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw [N, 128] VGGish embeddings -> [N, 128] uint8, as AudioSet's release.

        Mirrors the official vggish_postprocess.Postprocessor: PCA with whitening, clip,
        scale to [0, 255] and cast (which truncates, as the official code does).
        """
        pca = (raw.astype(np.float64) - self.means) @ self.eigen_vectors.T
        clipped = np.clip(pca, QUANTIZE_MIN, QUANTIZE_MAX)
        scaled = (clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN))
        return scaled.astype(np.uint8)


def configure_hub_cache(data_dir: Path) -> None:
    """TF-Hub's downloads go under DATA_DIR unless the operator chose a cache."""
    if not os.environ.get("TFHUB_CACHE_DIR"):  # unset, or left empty in .env
        os.environ["TFHUB_CACHE_DIR"] = str((data_dir / "tfhub").resolve())


def fetch_model(setting: str) -> tuple[str, Path]:
    """Download (or find) the model ahead of time: (the handle that answered, its folder)."""
    import tensorflow_hub as hub

    handle, folder = first_that_works(setting, hub.resolve)
    return handle, Path(folder)


class Embedder:
    """A loaded VGGish and its postprocessing. Build one per process and keep it."""

    def __init__(self, setting: str, pca_path: Path, threads: int = 0) -> None:
        """``setting`` is VGGISH_MODEL: handles tried in order, or a SavedModel folder.
        ``threads`` (LISTEN_THREADS) bounds TensorFlow's thread pools; 0 keeps its default."""
        self.pca = PcaParams(pca_path)
        self.setting = setting
        self.version = f"{model_id(setting)}|pca:{self.pca.digest}"
        import tensorflow as tf  # heavy: imported only where a model runs
        import tensorflow_hub as hub

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:  # TensorFlow already ran something in this process
                log.warning("LISTEN_THREADS=%d not applied: TensorFlow had started", threads)

        self.handle, self.model = first_that_works(setting, hub.load)
        log.info("VGGish loaded from %s", self.handle)

    def raw(self, waveform: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        output = self.model(tf.constant(waveform, dtype=tf.float32))
        return np.asarray(output, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)

    def frames(self, waveform: np.ndarray) -> np.ndarray:
        """Postprocessed uint8 frames, one per 0.96 s of ``waveform`` (16 kHz mono)."""
        if waveform.ndim != 1:
            raise ValueError("the waveform must be 1-D (mono)")
        if len(waveform) < MIN_SAMPLES:
            raise AudioTooShortError(
                f"the audio is {len(waveform) / SAMPLE_RATE:.2f} s long; earshot needs at "
                f"least {MIN_SAMPLES / SAMPLE_RATE:.3f} s"
            )
        wave = np.clip(waveform, -1.0, 1.0).astype(np.float32)
        total = expected_frames(len(wave))
        # Examples do not overlap, so chunks cut on example boundaries (plus the tail one
        # example needs) give exactly the frames of one whole call, with bounded memory.
        parts = []
        for first in range(0, total, CHUNK_EXAMPLES):
            count = min(CHUNK_EXAMPLES, total - first)
            start = first * EXAMPLE_HOP
            parts.append(self.raw(wave[start : start + (count - 1) * EXAMPLE_HOP + MIN_SAMPLES]))
        raw = np.concatenate(parts) if parts else np.zeros((0, EMBEDDING_SIZE), np.float32)
        if len(raw) == 0:
            raise AudioTooShortError("the audio is too short for one VGGish frame")
        return self.pca.postprocess(raw)
