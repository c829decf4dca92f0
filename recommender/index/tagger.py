"""A music-tag predictor learned from the labelled catalog (numpy only).

Input: a window of up to 10 dequantized VGGish frames (one AudioSet clip's length).
Output: one probability per specific AudioSet music label (genre, instrument, mood).

The tagger is decision-level attention (Kong et al., 2019, on AudioSet's released
frames): a hidden layer reads each frame, each label scores every frame, and a per-label
softmax over the window's frames decides which frames speak for that label, so a guitar
heard in two seconds of ten is not averaged away. Trained with Adam on random crops of
the catalog's clips (3 to 10 frames), so it tags a few seconds as well as a whole clip,
which is what a query from a YouTube section looks like. Several members with their own
seeds may be trained and averaged. Builds made before it hold the pooled tagger (mean,
standard deviation and max over the window into one hidden layer), which still loads.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vggish_format import EMBEDDING_SIZE
from .sound_map import fit_sound_map

WINDOW = 10  # frames: one AudioSet clip
POOLED_SIZE = 3 * EMBEDDING_SIZE
_PREDICT_BATCH = 1024  # windows at a time: bounds the hidden layer's memory
_ARRAYS = ("labels", "mu", "sd", "w1", "b1", "w2", "b2")
_ATTENTION_ARRAYS = ("wa", "ba")
_SOUND_ARRAYS = ("sound_map",)


def dequantize(frames: np.ndarray) -> np.ndarray:
    """AudioSet's 8-bit frames back to PCA'd VGGish values: x = q * 4 / 255 - 2."""
    return frames.astype(np.float32) * (4.0 / 255.0) - 2.0


def windows(frames: np.ndarray) -> list[np.ndarray]:
    """Split a track's frames into clip-sized windows (the last one may be shorter)."""
    return [frames[i : i + WINDOW] for i in range(0, max(len(frames), 1), WINDOW)]


def padded_windows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A track's windows as one padded uint8 batch (B, WINDOW, 128) and its frame mask."""
    parts = windows(frames)
    padded = np.zeros((len(parts), WINDOW, EMBEDDING_SIZE), dtype=np.uint8)
    mask = np.zeros((len(parts), WINDOW), dtype=bool)
    for i, part in enumerate(parts):
        padded[i, : len(part)] = part
        mask[i, : len(part)] = True
    return padded, mask


def pool_windows(frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and max over each window's dequantized frames, for a
    batch of padded uint8 windows (B, WINDOW, 128) with a frame mask (B, WINDOW)."""
    return _pool_masked(dequantize(frames), mask)


def _pool_masked(batch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """pool_windows() on dequantized windows (B, WINDOW, 128) with a frame mask (B, WINDOW)."""
    m = mask[:, :, None].astype(np.float32)
    count = np.maximum(m.sum(1), 1.0)
    mean = (batch * m).sum(1) / count
    std = np.sqrt((((batch - mean[:, None, :]) ** 2) * m).sum(1) / count)
    peak = np.where(mask[:, :, None], batch, -np.inf).max(1)
    return np.concatenate([mean, std, peak], axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _attend(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-label softmax of ``scores`` (B, WINDOW, L) over each window's frames."""
    scores = np.where(mask[:, :, None], scores, -np.inf)
    weights = np.exp(scores - scores.max(1, keepdims=True))
    return weights / weights.sum(1, keepdims=True)


@dataclass
class TagModel:
    """The tagger's weights. With ``wa`` (attention): per-frame standardization ``mu``,
    ``sd`` (128,), and each array stacked over ensemble members (a leading axis). Without:
    the pooled tagger of older builds, standardizing pooled windows (384,)."""

    labels: np.ndarray  # (L,) AudioSet class indices, the output order
    mu: np.ndarray
    sd: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    wa: np.ndarray | None = None
    ba: np.ndarray | None = None
    # The sound block's learned projection (sound_map.py); builds before it have none.
    sound_map: np.ndarray | None = None

    @property
    def attention(self) -> bool:
        return self.wa is not None

    def predict_pooled(self, pooled: np.ndarray) -> np.ndarray:
        """The pooled tagger's probabilities for pooled windows (B, 384)."""
        x = (pooled - self.mu) / self.sd
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        return _sigmoid(hidden @ self.w2 + self.b2)

    def predict_windows(self, frames: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Tag probabilities (B, L) for padded uint8 windows (B, WINDOW, 128) and their
        frame masks (B, WINDOW); every window needs at least one frame."""
        if not self.attention:
            return self.predict_pooled(pool_windows(frames, mask))
        out = np.empty((len(frames), len(self.labels)), dtype=np.float32)
        for start in range(0, len(frames), _PREDICT_BATCH):
            part = slice(start, start + _PREDICT_BATCH)
            x = (dequantize(frames[part]) - self.mu) / self.sd
            out[part] = self._attention_probabilities(x, mask[part])
        return out

    def _attention_probabilities(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert self.wa is not None and self.ba is not None
        total = np.zeros((len(x), len(self.labels)), dtype=np.float32)
        for e in range(len(self.w1)):
            hidden = np.maximum(x @ self.w1[e] + self.b1[e], 0.0)
            alpha = _attend(hidden @ self.wa[e] + self.ba[e], mask)
            total += _sigmoid((alpha * (hidden @ self.w2[e] + self.b2[e])).sum(1))
        return total / len(self.w1)

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Tag probabilities of one track: the mean over its clip-sized windows."""
        return self.predict_windows(*padded_windows(frames)).mean(0)

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
        names = _ARRAYS + (_ATTENTION_ARRAYS if self.attention else ())
        names += _SOUND_ARRAYS if self.sound_map is not None else ()
        return {k: getattr(self, k) for k in names}

    def sound(self, means: np.ndarray) -> np.ndarray:
        """Tracks' mean dequantized frames (..., 128), centred and, where this build
        learned one, projected: the sound block before its length is set."""
        centred = means - self.frame_mean
        return centred if self.sound_map is None else centred @ self.sound_map

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
            arrays = {k: data[k] for k in _ARRAYS}
            for optional in (_ATTENTION_ARRAYS, _SOUND_ARRAYS):
                if all(k in data for k in optional):
                    arrays.update({k: data[k] for k in optional})
        model = cls(**arrays)
        model.check_shapes()
        return model

    def check_shapes(self) -> None:
        """Raise ValueError unless the arrays fit together (a damaged file may not)."""
        n = len(self.labels)
        if self.attention:
            assert self.wa is not None and self.ba is not None
            members, dims, hidden = self.w1.shape if self.w1.ndim == 3 else (0, 0, 0)
            expected = {
                "mu": (EMBEDDING_SIZE,),
                "sd": (EMBEDDING_SIZE,),
                "w1": (members, EMBEDDING_SIZE, hidden),
                "b1": (members, hidden),
                "w2": (members, hidden, n),
                "b2": (members, n),
                "wa": (members, hidden, n),
                "ba": (members, n),
            }
            if members < 1 or dims != EMBEDDING_SIZE:
                raise ValueError("its attention weights have the wrong shape")
        else:
            hidden = self.w1.shape[1] if self.w1.ndim == 2 else 0
            expected = {
                "mu": (POOLED_SIZE,),
                "sd": (POOLED_SIZE,),
                "w1": (POOLED_SIZE, hidden),
                "b1": (hidden,),
                "w2": (hidden, n),
                "b2": (n,),
            }
        if self.sound_map is not None:
            expected["sound_map"] = (EMBEDDING_SIZE, EMBEDDING_SIZE)
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"its {name} has the wrong shape")


def train_tagger(
    frames: Sequence[np.ndarray],
    label_sets: Sequence[Sequence[int]],
    labels: Sequence[int],
    *,
    steps: int = 1200,
    hidden: int = 512,
    batch: int = 128,
    members: int = 1,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> TagModel:
    """Fit the attention tagger on clips (uint8 frames) and their AudioSet labels.

    Only ``labels`` are predicted; clips with none of them still teach what they are not.
    ``members`` taggers with seeds ``seed``, ``seed + 1``, ... are averaged. Deterministic
    for a given seed and data.
    """
    if not frames:
        raise ValueError("no labelled clips to train the tagger on")
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
    if not lengths.all():
        raise ValueError("a clip to train the tagger on has no frames")
    mu, sd = _frame_statistics(padded, lengths)
    nets = [
        _train_member(
            padded,
            lengths,
            targets,
            mu,
            sd,
            steps,
            hidden,
            batch,
            seed + e,
            _offset(progress, e * steps, members * steps),
        )
        for e in range(members)
    ]
    stacked = [np.stack(arrays) for arrays in zip(*nets, strict=True)]
    means = _clip_means(padded, lengths)
    sound = fit_sound_map(means, targets, mu)
    return TagModel(np.asarray(labels, dtype=np.int64), mu, sd, *stacked, sound_map=sound)


def _offset(
    progress: Callable[[int, int], None] | None, done: int, total: int
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda step, _steps: progress(done + step, total)


def _clip_means(padded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each clip's mean dequantized frame (N, 128), over its real frames."""
    out = np.empty((len(padded), EMBEDDING_SIZE), dtype=np.float64)
    positions = np.arange(WINDOW)[None, :]
    for start in range(0, len(padded), 8192):
        part = slice(start, start + 8192)
        mask = positions < lengths[part, None]
        x = dequantize(padded[part]) * mask[:, :, None]
        out[part] = x.sum(1) / lengths[part, None]
    return out


def _frame_statistics(padded: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every real (unpadded) dequantized frame, per dim."""
    total = np.zeros(EMBEDDING_SIZE)
    squares = np.zeros(EMBEDDING_SIZE)
    count = int(lengths.sum())
    positions = np.arange(WINDOW)[None, :]
    for start in range(0, len(padded), 8192):
        part = slice(start, start + 8192)
        x = dequantize(padded[part])[positions < lengths[part, None]].astype(np.float64)
        total += x.sum(0)
        squares += (x * x).sum(0)
    mean = total / count
    sd = np.sqrt(np.maximum(squares / count - mean * mean, 0.0)) + 1e-6
    return mean.astype(np.float32), sd.astype(np.float32)


def _train_member(
    padded: np.ndarray,
    lengths: np.ndarray,
    targets: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    steps: int,
    hidden: int,
    batch: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, ...]:
    """One attention tagger: w1, b1, w2, b2, wa, ba. The label and attention layers are
    one matrix while training ([w2 | wa]), split when done."""
    rng = np.random.default_rng(seed)
    n, labels = targets.shape
    d = EMBEDDING_SIZE
    w1 = rng.normal(0, np.sqrt(2 / d), (d, hidden)).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    w2a = np.zeros((hidden, 2 * labels), np.float32)  # attention starts even: wa = 0
    w2a[:, :labels] = rng.normal(0, np.sqrt(1 / hidden), (hidden, labels))
    b2a = np.zeros(2 * labels, np.float32)
    b2a[:labels] = -3.0  # labels are rare: start near their base rate
    params = [w1, b1, w2a, b2a]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, decay, dropout, noise = 1e-3, 1e-4, 0.3, 0.3
    decayed = np.ones(2 * labels, np.float32)
    decayed[labels:] = 0.0  # weight decay on the label layer only, not on attention
    positions = np.arange(WINDOW)[None, :]
    for step in range(1, steps + 1):
        idx = rng.integers(0, n, batch)
        length = lengths[idx]
        crop = rng.integers(np.minimum(3, length), length + 1)
        start = (rng.random(batch) * (length - crop + 1)).astype(np.int64)
        mask = (positions >= start[:, None]) & (positions < (start + crop)[:, None])
        x = (dequantize(padded[idx]) - mu) / sd
        x += noise * rng.standard_normal(x.shape, dtype=np.float32)
        y = targets[idx]
        h = np.maximum(x @ w1 + b1, 0.0)
        keep = (rng.random(h.shape, dtype=np.float32) > dropout) * np.float32(1 / (1 - dropout))
        h *= keep
        out = h @ w2a + b2a
        z, scores = out[..., :labels], out[..., labels:]
        alpha = _attend(scores, mask)
        logit = (alpha * z).sum(1)
        g = (_sigmoid(logit) - y) / batch  # d loss / d logit, binary cross-entropy
        gz = g[:, None, :] * alpha
        gout = np.concatenate([gz, gz * (z - logit[:, None, :])], axis=2)
        gh = (gout @ w2a.T) * (h > 0) * keep
        flat_h = h.reshape(-1, hidden)
        flat_gout = gout.reshape(-1, 2 * labels)
        flat_gh = gh.reshape(-1, hidden)
        grads = [
            x.reshape(-1, d).T @ flat_gh + decay * w1,
            flat_gh.sum(0),
            flat_h.T @ flat_gout + decay * w2a * decayed,
            flat_gout.sum(0),
        ]
        rate = lr * 0.5 * (1 + np.cos(np.pi * step / steps))  # cosine decay to zero
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            param -= rate * (m[i] / (1 - 0.9**step)) / (np.sqrt(v[i] / (1 - 0.999**step)) + 1e-8)
        if progress is not None and (step % 100 == 0 or step == steps):
            progress(step, steps)
    return (
        w1,
        b1,
        w2a[:, :labels].copy(),
        b2a[:labels].copy(),
        w2a[:, labels:].copy(),
        b2a[labels:].copy(),
    )
