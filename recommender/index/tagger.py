"""A small music-tag predictor learned from the labelled catalog (numpy only).

Input: a window of up to 10 dequantized VGGish frames, pooled (mean, std, max).
Output: one probability per specific AudioSet music label (genre, instrument, mood).
A one-hidden-layer network trained with Adam on random crops of the catalog's clips:
crops teach it to tag a few seconds as well as a whole clip, which is what a query
from a YouTube section looks like.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vggish_format import EMBEDDING_SIZE

WINDOW = 10  # frames: one AudioSet clip
POOLED_SIZE = 3 * EMBEDDING_SIZE


def dequantize(frames: np.ndarray) -> np.ndarray:
    """AudioSet's 8-bit frames back to PCA'd VGGish values: x = q * 4 / 255 - 2."""
    return frames.astype(np.float32) * (4.0 / 255.0) - 2.0


def windows(frames: np.ndarray) -> list[np.ndarray]:
    """Split a track's frames into clip-sized windows (the last one may be shorter)."""
    return [frames[i : i + WINDOW] for i in range(0, max(len(frames), 1), WINDOW)]


def pool(frames: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and max over a window's dequantized frames."""
    x = dequantize(frames)
    return np.concatenate([x.mean(0), x.std(0), x.max(0)])


def pool_windows(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """pool() for a batch of padded uint8 windows (B, WINDOW, 128) with a frame mask."""
    return _pool_masked(dequantize(frames), mask)


def _pool_masked(batch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """pool() for a batch of padded windows (B, WINDOW, 128) with a frame mask (B, WINDOW)."""
    m = mask[:, :, None].astype(np.float32)
    count = m.sum(1)
    mean = (batch * m).sum(1) / count
    std = np.sqrt((((batch - mean[:, None, :]) ** 2) * m).sum(1) / count)
    peak = np.where(mask[:, :, None], batch, -np.inf).max(1)
    return np.concatenate([mean, std, peak], axis=1)


@dataclass
class TagModel:
    labels: np.ndarray  # (L,) AudioSet class indices, the output order
    mu: np.ndarray
    sd: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def predict_pooled(self, pooled: np.ndarray) -> np.ndarray:
        x = (pooled - self.mu) / self.sd
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        return 1.0 / (1.0 + np.exp(-(hidden @ self.w2 + self.b2)))

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Tag probabilities of one track: the mean over its clip-sized windows."""
        pooled = np.stack([pool(w) for w in windows(frames)])
        return self.predict_pooled(pooled).mean(0)

    @classmethod
    def untrained(cls, labels: Sequence[int]) -> TagModel:
        """A tagger that hears nothing (one probability for every label, whatever the
        audio): for an index of vectors made elsewhere (tests and benchmarks)."""
        n = len(labels)
        return cls(
            np.asarray(labels, dtype=np.int64),
            np.zeros(POOLED_SIZE, np.float32),
            np.ones(POOLED_SIZE, np.float32),
            np.zeros((POOLED_SIZE, 2), np.float32),
            np.zeros(2, np.float32),
            np.zeros((2, n), np.float32),
            np.zeros(n, np.float32),
        )

    @property
    def frame_mean(self) -> np.ndarray:
        """Mean dequantized frame of the training catalog (the first block of mu)."""
        return self.mu[:EMBEDDING_SIZE]

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self._arrays())
        return buf.getvalue()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("labels", "mu", "sd", "w1", "b1", "w2", "b2")}

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name, array in self._arrays().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:12]

    def save(self, path: Path) -> None:
        path.write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> TagModel:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in ("labels", "mu", "sd", "w1", "b1", "w2", "b2")})


def train_tagger(
    frames: Sequence[np.ndarray],
    label_sets: Sequence[Sequence[int]],
    labels: Sequence[int],
    *,
    steps: int = 800,
    hidden: int = 512,
    batch: int = 128,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TagModel:
    """Fit the tagger on clips (uint8 frames) and their AudioSet labels.

    Only ``labels`` are predicted; clips with none of them still teach what they are not.
    Deterministic for a given seed and data.
    """
    if not frames:
        raise ValueError("no labelled clips to train the tagger on")
    rng = np.random.default_rng(seed)
    column = {label: i for i, label in enumerate(labels)}
    n = len(frames)
    padded = np.zeros((n, WINDOW, EMBEDDING_SIZE), dtype=np.uint8)  # 8-bit: a quarter of float32
    lengths = np.zeros(n, dtype=np.int64)
    targets = np.zeros((n, len(labels)), dtype=np.float32)
    for i, (clip, clip_labels) in enumerate(zip(frames, label_sets, strict=True)):
        clip = clip[:WINDOW]
        padded[i, : len(clip)] = clip
        lengths[i] = len(clip)
        for label in clip_labels:
            if label in column:
                targets[i, column[label]] = 1.0
    full = np.concatenate(
        [
            pool_windows(
                padded[i : i + 8192], np.arange(WINDOW)[None, :] < lengths[i : i + 8192, None]
            )
            for i in range(0, n, 8192)
        ]
    )
    mu = full.mean(0, dtype=np.float64).astype(np.float32)
    sd = full.std(0, dtype=np.float64).astype(np.float32) + 1e-6
    del full

    d = POOLED_SIZE
    w1 = rng.normal(0, np.sqrt(2 / d), (d, hidden)).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    w2 = rng.normal(0, np.sqrt(1 / hidden), (hidden, len(labels))).astype(np.float32)
    b2 = np.full(len(labels), -3.0, np.float32)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, decay, dropout, noise = 1e-3, 1e-4, 0.3, 0.3
    positions = np.arange(WINDOW)[None, :]
    for step in range(1, steps + 1):
        idx = rng.integers(0, n, batch)
        length = lengths[idx]
        crop = rng.integers(np.minimum(3, length), length + 1)
        start = (rng.random(batch) * (length - crop + 1)).astype(np.int64)
        mask = (positions >= start[:, None]) & (positions < (start + crop)[:, None])
        x = (pool_windows(padded[idx], mask) - mu) / sd
        x += rng.normal(0, noise, x.shape).astype(np.float32)
        y = targets[idx]
        h = np.maximum(x @ w1 + b1, 0.0)
        keep = (rng.random(h.shape) > dropout) / (1 - dropout)
        h *= keep
        p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
        g = (p - y) / batch
        gh = (g @ w2.T) * (h > 0) * keep
        grads = [x.T @ gh + decay * w1, gh.sum(0), h.T @ g + decay * w2, g.sum(0)]
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            param -= lr * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
        if progress is not None and (step % 100 == 0 or step == steps):
            progress(step, steps)
    return TagModel(
        np.asarray(labels, dtype=np.int64),
        mu.astype(np.float32),
        sd.astype(np.float32),
        w1,
        b1,
        w2,
        b2,
    )
