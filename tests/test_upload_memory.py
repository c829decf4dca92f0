"""An upload that decodes to hours costs what a song does: the file's declared length is
read first, and only the windows earshot hears are decoded, each into an array of its own
size. Measured in a fresh process, on the real listening path with the stand-in model."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.listening.audio import decode, ffmpeg_path, probe_seconds
from scripts.standins.cli import ROOT

HOURS_3 = 3 * 3600

LISTEN = """
import json, sys
from pathlib import Path
from recommender.listening.workers import WorkerConfig, listen_file
from recommender.listening.audio import ffmpeg_path
from recommender.sources.youtube import FetchOptions
model, pca, song, data = sys.argv[1:5]
fetch = FetchOptions(ffmpeg_path(), 10800, 30, 2, 50_000_000)
config = WorkerConfig(model=model, pca_params=Path(pca), data_dir=Path(data), fetch=fetch)
from recommender.listening.workers import _get_embedder
_get_embedder(config)  # the model loaded first: what follows is the listen's own cost

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

Path("/proc/self/clear_refs").write_text("5")  # the peak resident size starts again from now
before = status("VmRSS")
try:
    listened = listen_file(config, Path(song))
    said = {"frames": len(listened.frames), "seconds": listened.duration_s}
except Exception as exc:
    said = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps({**said, "added_mb": status("VmHWM") - before}))
"""


def _silence(path: Path, seconds: int) -> Path:
    subprocess.run(
        [ffmpeg_path(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "anullsrc=r=8000:cl=mono", "-t", str(seconds), "-c:a", "flac", str(path)],
        check=True, timeout=600,  # a hang guard: a few seconds on an idle machine
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def silence_3h(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hours of FLAC silence: about a megabyte, 691 MB once decoded whole."""
    return _silence(tmp_path_factory.mktemp("long") / "silence3h.flac", HOURS_3)


def _wav_claiming(path: Path, claimed_s: float, real_s: float) -> Path:
    """A 16 kHz 16-bit mono WAV whose header claims ``claimed_s`` and holds ``real_s``."""
    rate, width = 16_000, 2
    claimed, real = int(claimed_s * rate) * width, int(real_s * rate) * width
    header = b"RIFF" + struct.pack("<I", 36 + claimed) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * width, width, 16)
    header += b"data" + struct.pack("<I", claimed)
    path.write_bytes(header + bytes(real))
    return path


def _listen(song: Path, fake_vggish: Path, pca_params: Path, data: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LISTEN, str(fake_vggish), str(pca_params), str(song), str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,  # a hang guard
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_three_hours_of_silence_cost_what_a_song_does(
    silence_3h: Path, fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    assert silence_3h.stat().st_size < 10 * 1024 * 1024  # under Discord's upload cap
    assert probe_seconds(silence_3h, ffmpeg_path()) == pytest.approx(HOURS_3, abs=1)
    said = _listen(silence_3h, fake_vggish, pca_params, tmp_path)
    assert said["error"] == "SilentAudioError", said
    assert said["added_mb"] < 300, said  # decoded whole, it took 2.6 GB


def test_a_wav_whose_header_claims_hours_is_heard_for_what_it_holds(
    fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    """ffmpeg measures a WAV by the bytes it holds when its header claims more."""
    lying = _wav_claiming(tmp_path / "lying.wav", claimed_s=5 * 3600, real_s=2.0)
    assert probe_seconds(lying, ffmpeg_path()) == pytest.approx(2.0, abs=0.1)
    said = _listen(lying, fake_vggish, pca_params, tmp_path)
    assert said["error"] == "SilentAudioError", said  # two seconds of zeros, heard
    assert said["added_mb"] < 300, said


def test_a_file_longer_than_the_limit_is_refused_before_decoding(
    fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    said = _listen(
        _silence(tmp_path / "long.flac", HOURS_3 + 60), fake_vggish, pca_params, tmp_path
    )
    assert said == {
        "error": "VideoTooLongError",
        "message": "That file is 3:01:00 long; earshot listens to songs of up to 3:00:00.",
        "added_mb": said["added_mb"],
    }
    assert said["added_mb"] < 300, said


def test_decoding_stops_at_what_is_heard(silence_3h: Path) -> None:
    wave = decode(silence_3h, ffmpeg_path(), start_s=3600.0, max_seconds=5.0)
    assert len(wave) == 5 * 16_000 and wave.dtype.name == "float32"
    assert not wave.any()
