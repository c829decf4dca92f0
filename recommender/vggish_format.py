"""The shape of VGGish's audio and embeddings: defined here once, used everywhere.

VGGish hears 16 kHz mono through 25 ms STFT windows every 10 ms, in examples of 96 frames
(0.96 s) that do not overlap, and gives one 128-d embedding per example; AudioSet's
released frames have the same 128 dimensions after PCA.
"""

from __future__ import annotations

SAMPLE_RATE = 16_000
EMBEDDING_SIZE = 128
STFT_WINDOW = 400  # 25 ms
STFT_HOP = 160  # 10 ms
EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames, no overlap between examples
MIN_SAMPLES = STFT_WINDOW + (EXAMPLE_FRAMES - 1) * STFT_HOP  # 15,600 = 0.975 s
EXAMPLE_HOP = EXAMPLE_FRAMES * STFT_HOP  # 15,360 samples between example starts
