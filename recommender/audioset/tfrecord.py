"""TFRecord files of AudioSet ``tf.train.SequenceExample`` records, without TensorFlow.

AudioSet's released features are small protobufs in TFRecord framing. Parsing them
here keeps ``ingest`` and ``evaluate`` free of a multi-second TensorFlow import, and
lets every record's CRC be checked so a corrupt file is reported instead of ingested.

Framing (per record): uint64 length, uint32 masked crc32c(length), data,
uint32 masked crc32c(data); all little-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np

from ..vggish_format import EMBEDDING_SIZE

__all__ = ["EMBEDDING_SIZE"]
_MASK_DELTA = 0xA282EAD8


class CorruptRecordError(ValueError):
    """A record whose framing, checksum or protobuf content is not valid."""


@dataclass(frozen=True, slots=True)
class ClipRecord:
    video_id: str
    start_s: float
    end_s: float
    labels: tuple[int, ...]
    frames: np.ndarray  # (n, 128) uint8, one row per second of audio


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def iter_records(path: Path, on_bad_record: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """Yield each record's payload.

    A record whose payload fails its checksum is passed to ``on_bad_record`` and skipped
    (its length was valid, so the next record can still be found); without the callback,
    or when the framing itself is broken, CorruptRecordError is raised.
    """
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise CorruptRecordError(
                    f"truncated record header at byte {f.tell() - len(header)}"
                )
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if masked_crc(header[:8]) != length_crc:
                raise CorruptRecordError(f"bad length checksum at byte {f.tell() - 12}")
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise CorruptRecordError("truncated record payload")
            if masked_crc(data) != struct.unpack("<I", footer)[0]:
                message = f"bad data checksum in the record at byte {f.tell() - length - 16}"
                if on_bad_record is None:
                    raise CorruptRecordError(message)
                on_bad_record(message)
                continue
            yield data


def frame_record(payload: bytes) -> bytes:
    """TFRecord framing for one payload (used to write test and benchmark files)."""
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", masked_crc(length))
        + payload
        + struct.pack("<I", masked_crc(payload))
    )


# --- protobuf wire format, just enough for tf.train.SequenceExample -----------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CorruptRecordError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CorruptRecordError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) where value is int or bytes."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise CorruptRecordError("truncated length-delimited field")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 5:
            yield number, wire, buf[pos : pos + 4]
            pos += 4
        elif wire == 1:
            yield number, wire, buf[pos : pos + 8]
            pos += 8
        else:
            raise CorruptRecordError(f"unsupported wire type {wire}")


def _map_entries(buf: bytes) -> Iterator[tuple[str, bytes]]:
    """Entries of a map<string, message> field (Features / FeatureLists)."""
    for number, _, entry in _fields(buf):
        if number != 1:
            continue
        key = b""
        value = b""
        for n, _, v in _fields(entry):  # type: ignore[arg-type]
            if n == 1:
                key = v  # type: ignore[assignment]
            elif n == 2:
                value = v  # type: ignore[assignment]
        yield key.decode("utf-8", "replace"), value


def _feature(buf: bytes) -> tuple[str, list]:
    """Decode a tf.train.Feature into (kind, values)."""
    for number, _, payload in _fields(buf):
        values: list = []
        if number == 1:  # BytesList
            values = [v for n, _, v in _fields(payload) if n == 1]  # type: ignore[arg-type]
            return "bytes", values
        if number == 2:  # FloatList, packed or not
            for n, wire, v in _fields(payload):  # type: ignore[arg-type]
                if n == 1 and wire == 2:
                    values.extend(struct.unpack(f"<{len(v) // 4}f", v))  # type: ignore[arg-type]
                elif n == 1 and wire == 5:
                    values.append(struct.unpack("<f", v)[0])  # type: ignore[arg-type]
            return "float", values
        if number == 3:  # Int64List, packed or not
            for n, wire, v in _fields(payload):  # type: ignore[arg-type]
                if n == 1 and wire == 2:
                    pos = 0
                    while pos < len(v):  # type: ignore[arg-type]
                        x, pos = _varint(v, pos)  # type: ignore[arg-type]
                        values.append(x - (1 << 64) if x >= 1 << 63 else x)
                elif n == 1 and wire == 0:
                    values.append(v)
            return "int64", values
    return "empty", []


def parse_clip(payload: bytes) -> ClipRecord:
    """Parse one AudioSet SequenceExample into a ClipRecord."""
    context: dict[str, list] = {}
    frames: list[bytes] = []
    for number, _, value in _fields(payload):
        if number == 1:
            for key, feature in _map_entries(value):  # type: ignore[arg-type]
                context[key] = _feature(feature)[1]
        elif number == 2:
            for key, feature_list in _map_entries(value):  # type: ignore[arg-type]
                if key != "audio_embedding":
                    continue
                for n, _, feature in _fields(feature_list):
                    if n == 1:
                        kind, values = _feature(feature)  # type: ignore[arg-type]
                        if kind == "bytes" and values:
                            frames.append(values[0])
    try:
        video_id = context["video_id"][0].decode("ascii")
        start_s = float(context["start_time_seconds"][0])
        end_s = float(context["end_time_seconds"][0])
    except (KeyError, IndexError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"record lacks a valid context field: {exc}") from None
    labels = tuple(int(x) for x in context.get("labels", []))
    if not frames or any(len(f) != EMBEDDING_SIZE for f in frames):
        raise CorruptRecordError(f"clip {video_id} has no or malformed audio_embedding frames")
    array = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(-1, EMBEDDING_SIZE)
    return ClipRecord(video_id, start_s, end_s, labels, array)


def read_clips(path: Path) -> Iterator[ClipRecord]:
    for payload in iter_records(path):
        yield parse_clip(payload)


def read_clips_reporting(path: Path) -> tuple[list[ClipRecord], list[str]]:
    """Every clip that reads cleanly, and a line for each record that does not."""
    clips: list[ClipRecord] = []
    problems: list[str] = []
    try:
        for payload in iter_records(path, problems.append):
            try:
                clips.append(parse_clip(payload))
            except CorruptRecordError as exc:
                problems.append(str(exc))
    except CorruptRecordError as exc:
        problems.append(f"{exc}; the rest of the file is unreadable")
    except OSError as exc:
        problems.append(f"cannot read the file: {exc}")
    return clips, problems


# --- encoding, for tests and benchmarks that write AudioSet-shaped files ------------


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(payload)) + payload


def _map_entry(key: str, value: bytes) -> bytes:
    return _delimited(1, _delimited(1, key.encode()) + _delimited(2, value))


def encode_clip(clip: ClipRecord) -> bytes:
    """Serialise a ClipRecord as AudioSet's SequenceExample (payload, unframed)."""
    bytes_feature = _delimited(1, _delimited(1, clip.video_id.encode()))
    start = _delimited(2, _delimited(1, struct.pack("<f", clip.start_s)))
    end = _delimited(2, _delimited(1, struct.pack("<f", clip.end_s)))
    labels = _delimited(3, _delimited(1, b"".join(_encode_varint(x) for x in clip.labels)))
    context = (
        _map_entry("video_id", bytes_feature)
        + _map_entry("start_time_seconds", start)
        + _map_entry("end_time_seconds", end)
        + _map_entry("labels", labels)
    )
    frames = b"".join(
        _delimited(1, _delimited(1, _delimited(1, row.tobytes()))) for row in clip.frames
    )
    feature_lists = _map_entry("audio_embedding", frames)
    return _delimited(1, context) + _delimited(2, feature_lists)


def write_clips(path: Path, clips: list[ClipRecord]) -> None:
    with open(path, "wb") as f:
        for clip in clips:
            f.write(frame_record(encode_clip(clip)))
