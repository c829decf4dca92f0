"""Real audio files for tests, made with the ffmpeg that the project installs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from recommender.listening.audio import ffmpeg_path

# (extension, ffmpeg output options)
FORMATS = {
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "ogg": ["-c:a", "libopus", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "webm": ["-c:a", "libopus", "-b:a", "64k"],
    "flac": ["-c:a", "flac"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
}


def make_song(
    path: Path,
    seconds: float,
    *,
    tone: float = 220.0,
    rate: int = 44_100,
    silent: bool = False,
    tags: dict[str, str] | None = None,
) -> Path:
    """A stereo 'song': a chord with a beat-like tremolo and a little noise (or, with
    ``silent``, digital silence of the same length); ``tags`` as ffmpeg writes them for
    the format (artist, title, album, ISRC...)."""
    chord = "+".join(f"0.2*sin({tone * k}*2*PI*t)" for k in (1.0, 1.25, 1.5, 2.0))
    expression = f"({chord})*(0.6+0.4*sin(2*PI*2*t))" if not silent else "0"
    noise = 0.0 if silent else 0.02
    extension = path.suffix.lstrip(".")
    subprocess.run(
        [
            ffmpeg_path(),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc={expression}|{expression}:s={rate}:d={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=d={seconds}:c=pink:r={rate}:a={noise}",
            "-filter_complex",
            "[0][1]amix=inputs=2:normalize=0[a]",
            "-map",
            "[a]",
            *FORMATS[extension],
            *(
                part
                for key, value in (tags or {}).items()
                for part in ("-metadata", f"{key}={value}")
            ),
            str(path),
        ],
        check=True,
    )
    return path
