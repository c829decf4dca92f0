"""A small SavedModel with VGGish's exact interface, for tests that cannot reach TF Hub.

Waveform in (1-D float32, 16 kHz), [N, 128] float32 out, N following VGGish's framing:
25 ms STFT windows every 10 ms, examples of 96 frames without overlap. The numbers come
from a log spectrogram and fixed random projections, so different audio gives different
embeddings and the same audio the same ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_fake_vggish(path: Path) -> Path:
    import tensorflow as tf

    rng = np.random.default_rng(1234)
    mel = tf.constant(np.abs(rng.normal(size=(257, 64))).astype(np.float32) / 16)
    projection = tf.constant(rng.normal(size=(96 * 64, 128)).astype(np.float32) / 96)

    class FakeVGGish(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
        def __call__(self, waveform: tf.Tensor) -> tf.Tensor:
            stft = tf.signal.stft(
                waveform, frame_length=400, frame_step=160, fft_length=512, pad_end=False
            )
            log_mel = tf.math.log(tf.matmul(tf.abs(stft), mel) + 0.01)  # [frames, 64]
            examples = tf.signal.frame(log_mel, 96, 96, axis=0)  # [N, 96, 64]
            flat = tf.reshape(examples, [-1, 96 * 64])
            z = tf.matmul(flat, projection)
            mean, variance = tf.nn.moments(z, axes=[1], keepdims=True)
            return 0.5 * tf.tanh((z - mean) / tf.sqrt(variance + 1e-6))  # [N, 128]

    module = FakeVGGish()
    tf.saved_model.save(module, str(path))
    return path
