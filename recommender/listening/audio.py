"""ffmpeg: any audio file to 16 kHz mono float32 in [-1, 1], as VGGish expects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import EarshotError
from ..vggish_format import SAMPLE_RATE

__all__ = [
    "SAMPLE_RATE",
    "DecodeError",
    "decode",
    "ffmpeg_folder",
    "ffmpeg_path",
    "probe_seconds",
]


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


def _reading(ffmpeg: str, loglevel: str = "info") -> list[str]:
    """ffmpeg reading its input as a local audio file only: a playlist or a concat script
    (which ffmpeg would follow to other files or addresses) is refused."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", loglevel]
    return [*command, "-protocol_whitelist", "file,pipe", "-format_whitelist", AUDIO_DEMUXERS]


_DURATION = re.compile(rb"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


def probe_seconds(path: Path, ffmpeg: str, timeout_s: float = 30.0) -> float | None:
    """The length the file declares (its header, or ffmpeg's estimate from its size),
    read without decoding; None when it declares none."""
    command = [*_reading(ffmpeg), "-i", str(path)]  # no output: ffmpeg describes it
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise DecodeError(f"reading the file's header took longer than {timeout_s:.0f} s") from None
    except OSError as exc:
        raise DecodeError(f"cannot run ffmpeg ({ffmpeg}): {exc}") from None
    found = _DURATION.search(result.stderr)
    if not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def decode(
    path: Path,
    ffmpeg: str,
    *,
    max_seconds: float = 600.0,  # 38 MB of samples: callers say what they hear
    start_s: float = 0.0,
    timeout_s: float = 120.0,
) -> np.ndarray:
    """Decode at most ``max_seconds`` of ``path`` from ``start_s`` to a 1-D float32
    waveform at 16 kHz, mono, clipped to [-1, 1].

    ffmpeg's output is read straight into an array of that size, so memory is bounded by
    what is heard, however long the file is or says it is (an hour of silence compresses
    to a megabyte)."""
    command = _reading(ffmpeg, loglevel="error")
    if start_s > 0:
        command += ["-ss", f"{start_s:.3f}"]  # before -i: ffmpeg seeks, it does not decode up to it
    command += ["-i", str(path), "-t", f"{max_seconds:.3f}"]
    command += ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"]
    samples = np.empty(int(max_seconds * SAMPLE_RATE) + SAMPLE_RATE, dtype="<f4")
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors
            )
        except OSError as exc:
            raise DecodeError(f"cannot run ffmpeg ({ffmpeg}): {exc}") from None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_s, stop)
        timer.start()
        try:
            assert process.stdout is not None
            got = _read_into(process.stdout, memoryview(samples).cast("B"))
            code = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        errors.seek(0)
        detail = errors.read().decode("utf-8", "replace").strip().splitlines()
    if timed_out.is_set():
        raise DecodeError(f"decoding took longer than {timeout_s:.0f} s")
    if code != 0:
        raise DecodeError(
            "that file is not audio ffmpeg can read" + (f" ({detail[-1]})" if detail else "")
        )
    count = got // 4
    if count == 0:
        raise DecodeError("that file has no audio")
    wave = samples[:count]
    np.clip(wave, -1.0, 1.0, out=wave)
    return wave


def _read_into(stream: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``stream``; anything past its end is drained and dropped
    (ffmpeg's ``-t`` ends it near there), so ffmpeg never blocks on a full pipe."""
    got = 0
    while got < len(buffer):
        n = stream.readinto(buffer[got:])  # type: ignore[attr-defined]
        if not n:
            return got
        got += n
    while stream.read(1 << 16):
        pass
    return got
