"""ffmpeg: any audio file to 16 kHz mono float32 in [-1, 1], as VGGish expects."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import EarshotError
from ..vggish_format import SAMPLE_RATE

__all__ = ["SAMPLE_RATE", "DecodeError", "decode", "ffmpeg_folder", "ffmpeg_path"]


class DecodeError(EarshotError):
    pass


# The containers songs come in (YouTube's webm and m4a, and what operators try out);
# ffmpeg's names for its demuxers ("mov" is also mp4 and m4a).
AUDIO_DEMUXERS = "matroska,webm,mov,mp4,m4a,mp3,ogg,wav,flac,aac,aiff,caf,asf,w64,wv"


def ffmpeg_path(configured: str | None = None) -> str:
    """The configured ffmpeg, else the one the imageio-ffmpeg wheel ships, else PATH's."""
    if configured:
        return configured
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise DecodeError("ffmpeg was not found; install imageio-ffmpeg or set FFMPEG_BINARY")


def ffmpeg_folder(ffmpeg: str, folder: Path) -> Path:
    """A folder with ``ffmpeg`` in it, as yt-dlp's ffmpeg_location wants.

    yt-dlp recognises the binary by its name; the wheel's binary has a versioned name,
    so it is linked under the plain one.
    """
    if Path(ffmpeg).name == "ffmpeg":
        return Path(ffmpeg).parent
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "ffmpeg"
    if not link.exists() or link.resolve() != Path(ffmpeg).resolve():
        temporary = folder / f".ffmpeg-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path(ffmpeg).resolve())
        os.replace(temporary, link)
    return folder


def decode(
    path: Path, ffmpeg: str, *, max_seconds: float | None = None, timeout_s: float = 120.0
) -> np.ndarray:
    """Decode ``path`` to a 1-D float32 waveform at 16 kHz, mono, clipped to [-1, 1].

    Only local files, and only audio containers: a file that is really a playlist or a
    concat script (which ffmpeg would follow to other files or addresses) is refused."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error"]
    command += ["-protocol_whitelist", "file,pipe", "-format_whitelist", AUDIO_DEMUXERS]
    command += ["-i", str(path)]
    if max_seconds is not None:
        command += ["-t", f"{max_seconds:.3f}"]
    command += ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise DecodeError(f"decoding took longer than {timeout_s:.0f} s") from None
    except OSError as exc:
        raise DecodeError(f"cannot run ffmpeg ({ffmpeg}): {exc}") from None
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DecodeError(
            "that file is not audio ffmpeg can read" + (f" ({detail[-1]})" if detail else "")
        )
    samples = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise DecodeError("that file has no audio")
    return np.clip(samples, -1.0, 1.0)
