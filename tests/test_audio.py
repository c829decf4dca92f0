"""ffmpeg decoding of real audio files in the formats YouTube and members use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.listening.audio import SAMPLE_RATE, DecodeError, decode, ffmpeg_folder, ffmpeg_path
from scripts.standins.media import FORMATS, make_song


@pytest.mark.parametrize("extension", sorted(FORMATS))
def test_decodes_to_16k_mono_float32(extension: str, tmp_path: Path) -> None:
    song = make_song(tmp_path / f"song.{extension}", 12.0, rate=44_100)
    wave = decode(song, ffmpeg_path())
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert len(wave) / SAMPLE_RATE == pytest.approx(12.0, abs=0.1)
    assert -1.0 <= wave.min() < -0.1 and 0.1 < wave.max() <= 1.0  # real signal, in range


def test_max_seconds_bounds_the_output(tmp_path: Path) -> None:
    song = make_song(tmp_path / "song.mp3", 12.0)
    assert len(decode(song, ffmpeg_path(), max_seconds=5)) == 5 * SAMPLE_RATE


def test_not_audio_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01 definitely not audio" * 100)
    with pytest.raises(DecodeError, match="not audio ffmpeg can read"):
        decode(junk, ffmpeg_path())


@pytest.mark.parametrize(
    "script",
    [
        "ffconcat version 1.0\nfile other.wav\n",  # ffmpeg would read other.wav instead
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nother.wav\n#EXT-X-ENDLIST\n",
    ],
    ids=["concat", "hls"],
)
def test_a_script_posing_as_audio_is_not_followed(script: str, tmp_path: Path) -> None:
    make_song(tmp_path / "other.wav", 3.0)
    disguised = tmp_path / "song.mp3"
    disguised.write_text(script)
    with pytest.raises(DecodeError, match="not audio ffmpeg can read"):
        decode(disguised, ffmpeg_path())


def test_missing_ffmpeg_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="cannot run ffmpeg"):
        decode(tmp_path / "x.wav", str(tmp_path / "no-ffmpeg"))


def test_ffmpeg_folder_names_the_binary_ffmpeg(tmp_path: Path) -> None:
    folder = ffmpeg_folder(ffmpeg_path(), tmp_path / "bin")
    assert (folder / "ffmpeg").resolve() == Path(ffmpeg_path()).resolve()
