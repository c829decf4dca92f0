"""A SavedModel with VGGish's real architecture and interface, and random weights.

For benchmarks on machines that cannot reach TF Hub: it costs what VGGish costs (the
same log-mel front end, the same convolutions and fully connected layers, ~72 M
parameters), so timings and memory are representative, while its outputs are not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_vggish_architecture(path: Path, seed: int = 0) -> Path:
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> tf.Variable:
        fan_in = int(np.prod(shape[:-1]))
        return tf.Variable(rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32))

    mel = tf.signal.linear_to_mel_weight_matrix(64, 257, 16_000, 125.0, 7500.0)

    class VGGishArchitecture(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = [
                weight(3, 3, 1, 64),
                weight(3, 3, 64, 128),
                weight(3, 3, 128, 256),
                weight(3, 3, 256, 256),
                weight(3, 3, 256, 512),
                weight(3, 3, 512, 512),
            ]
            self.fcs = [weight(6 * 4 * 512, 4096), weight(4096, 4096), weight(4096, 128)]

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
        def __call__(self, waveform: tf.Tensor) -> tf.Tensor:
            stft = tf.signal.stft(waveform, 400, 160, fft_length=512, pad_end=False)
            log_mel = tf.math.log(tf.matmul(tf.abs(stft), mel) + 0.01)
            x = tf.signal.frame(log_mel, 96, 96, axis=0)[..., None]  # [N, 96, 64, 1]
            pools_after = {0, 1, 3, 5}
            for i, kernel in enumerate(self.convs):
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
                if i in pools_after:
                    x = tf.nn.max_pool2d(x, 2, 2, "SAME")
            x = tf.reshape(x, [-1, 6 * 4 * 512])
            for i, matrix in enumerate(self.fcs):
                x = tf.matmul(x, matrix)
                if i < 2:
                    x = tf.nn.relu(x)
            return x

    tf.saved_model.save(VGGishArchitecture(), str(path))
    return path
