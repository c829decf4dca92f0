from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.audioset.tfrecord import (
    ClipRecord,
    CorruptRecordError,
    encode_clip,
    frame_record,
    parse_clip,
    read_clips,
    read_clips_reporting,
    write_clips,
)
from tests.conftest import BAL_TRAIN, require_audioset


def _clip(video: str = "abcdefghijk", n: int = 10) -> ClipRecord:
    frames = np.arange(n * 128, dtype=np.int64).reshape(n, 128).astype(np.uint8)
    return ClipRecord(video, 30.0, 40.0, (137, 140, 0), frames)


def test_encode_parse_round_trip() -> None:
    clip = _clip()
    back = parse_clip(encode_clip(clip))
    assert (back.video_id, back.start_s, back.end_s, back.labels) == (
        clip.video_id,
        clip.start_s,
        clip.end_s,
        clip.labels,
    )
    assert np.array_equal(back.frames, clip.frames)


def test_reads_every_clip_of_the_real_sample() -> None:
    require_audioset()
    clips = [c for p in sorted(BAL_TRAIN.glob("*.tfrecord"))[:200] for c in read_clips(p)]
    assert len(clips) > 500
    assert all(c.frames.shape[1] == 128 and 1 <= len(c.frames) <= 10 for c in clips)
    assert all(len(c.video_id) == 11 and 0 < c.end_s - c.start_s <= 10 for c in clips)
    assert all(0 <= label < 527 for c in clips for label in c.labels)


def test_bad_checksum_skips_one_record_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "x.tfrecord"
    write_clips(path, [_clip("aaaaaaaaaaa"), _clip("bbbbbbbbbbb"), _clip("ccccccccccc")])
    data = bytearray(path.read_bytes())
    record = len(frame_record(encode_clip(_clip())))
    data[record + 40] ^= 0xFF  # inside the second record's payload
    path.write_bytes(bytes(data))
    clips, problems = read_clips_reporting(path)
    assert [c.video_id for c in clips] == ["aaaaaaaaaaa", "ccccccccccc"]
    assert len(problems) == 1 and "checksum" in problems[0]
    with pytest.raises(CorruptRecordError):
        list(read_clips(path))


def test_truncated_file_keeps_the_records_before_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "x.tfrecord"
    write_clips(path, [_clip("aaaaaaaaaaa"), _clip("bbbbbbbbbbb")])
    path.write_bytes(path.read_bytes()[:-100])
    clips, problems = read_clips_reporting(path)
    assert [c.video_id for c in clips] == ["aaaaaaaaaaa"]
    assert problems and "truncated" in problems[0]


def test_garbage_is_reported_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"this is not a tfrecord file at all")
    clips, problems = read_clips_reporting(path)
    assert clips == [] and problems
