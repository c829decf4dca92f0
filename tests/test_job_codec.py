"""Jobs and results cross Redis as plain data: what earshot writes reads back whole, and
anything else (a pickle above all) is refused, never run."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from arq.jobs import (
    DeserializationError,
    deserialize_job,
    deserialize_result,
    serialize_job,
    serialize_result,
)
from arq.worker import JobExecutionFailed

from recommender.errors import BusyError, DiskFullError, EarshotError
from recommender.listening.job_codec import LISTEN_FUNCTION, RefusedPayloadError, decode, encode
from recommender.listening.workers import Listened, ListenersDiedError
from recommender.sources import refusals
from recommender.sources.youtube import LiveStreamError, VideoUnavailableError


def _result(success: bool, result: object) -> bytes:
    return serialize_result(
        LISTEN_FUNCTION, ("abcdefghijk", None, "v1"), {}, 1, 1, success, result, 2, 3,
        "ref", "earshot:queue", "listen:x:abcdefghijk", serializer=encode,
    )  # fmt: skip


def test_a_job_reads_back_as_the_same_call() -> None:
    raw = serialize_job(LISTEN_FUNCTION, ("abcdefghijk", 90, "v1"), {}, 2, 1234, serializer=encode)
    assert raw.startswith(b"{")  # JSON, not a pickle
    job = deserialize_job(raw, deserializer=decode)
    assert (job.function, job.args, job.kwargs, job.job_try) == (
        LISTEN_FUNCTION,
        ("abcdefghijk", 90.0, "v1"),
        {},
        2,
    )


def test_results_read_back_as_themselves() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (7, 128), dtype=np.uint8)
    listened = Listened(frames, "Title", "Channel", 212.5, "vggish-1")
    back = deserialize_result(_result(True, listened), deserializer=decode).result
    assert isinstance(back, Listened) and np.array_equal(back.frames, frames)
    assert (back.title, back.channel, back.duration_s, back.model_version) == (
        "Title",
        "Channel",
        212.5,
        "vggish-1",
    )
    live = deserialize_result(_result(False, LiveStreamError()), deserializer=decode).result
    assert type(live) is LiveStreamError and live.refusal == refusals.LIVE
    private = VideoUnavailableError(refusals.PRIVATE)
    back = deserialize_result(_result(False, private), deserializer=decode).result
    assert type(back) is VideoUnavailableError and str(back) == str(private)
    busy = BusyError("come back later")
    busy.operator_hint = "more workers"
    back = deserialize_result(_result(False, busy), deserializer=decode).result
    assert type(back) is BusyError and str(back) == "come back later"
    assert back.operator_hint == "more workers"
    full = DiskFullError("the disk holding /srv/earshot (0 bytes free)")
    back = deserialize_result(_result(False, full), deserializer=decode).result
    assert type(back) is DiskFullError and str(back) == DiskFullError.LISTENING
    assert back.operator_hint == full.operator_hint  # the worker's disk, named for the operator
    # arq's own failures (a time limit, too many tries) arrive as one clear earshot error.
    back = deserialize_result(_result(False, TimeoutError("60 s")), deserializer=decode).result
    assert type(back) is EarshotError and "try again" in str(back)
    assert "TimeoutError: 60 s" in back.operator_hint
    # a job whose workers died on every try: the member reads why, and it costs a cooldown
    gave_up = JobExecutionFailed("max 2 retries exceeded")
    back = deserialize_result(_result(False, gave_up), deserializer=decode).result
    assert type(back) is ListenersDiedError and back.costs_cooldown
    assert "stopped twice while hearing this song" in str(back)
    assert "died on each of its 2 tries" in back.operator_hint


class _Exploit:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _exploit(marker: Path) -> bytes:
    return pickle.dumps({"t": 1, "f": LISTEN_FUNCTION, "a": (_Exploit(marker),), "k": {}, "et": 1})


@pytest.mark.parametrize(
    "payload",
    [
        None,  # a pickle that runs code
        b"[]",
        b'{"t": 1, "f": "shutdown", "a": [], "k": {}, "et": 1}',
        b'{"t": 1, "f": "listen", "a": ["abcdefghijk", "soon", "v1"], "k": {}, "et": 1}',
        b'{"t": 1, "f": "listen", "a": ["abcdefghijk", null, "v1"], "k": {"x": 1}, "et": 1}',
        b'{"t": true, "f": "listen", "a": ["abcdefghijk", null, "v1"], "k": {}, "et": 1}',
    ],
)
def test_anything_else_is_refused_with_a_log_line(
    payload: bytes | None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    assert pickle.loads(_exploit(marker)) and marker.exists()  # the exploit does run...
    marker.unlink()
    with pytest.raises(DeserializationError):  # ...but not through the queue
        deserialize_job(payload or _exploit(marker), deserializer=decode)
    assert "refused a queue payload that earshot did not write" in caplog.text
    assert not marker.exists()


def test_a_result_that_is_not_plain_data_is_refused(tmp_path: Path) -> None:
    good = json.loads(_result(True, Listened(np.zeros((2, 128), np.uint8), "", "", None, "v")))
    for broken in (
        {**good, "r": {"listened": {**good["r"]["listened"], "rows": 3}}},  # short frames
        {**good, "r": {"listened": {**good["r"]["listened"], "frames": "%%%"}}},
        {**good, "r": {"error": {"class": "BusyError", "message": "x", "operator_hint": ""}}},
        {**good, "s": False, "r": {"error": {"class": "os.system", "message": 1}}},
    ):
        with pytest.raises(RefusedPayloadError):
            decode(json.dumps(broken).encode())
    with pytest.raises(DeserializationError):
        deserialize_result(pickle.dumps({"r": _Exploit(tmp_path / "ran")}), deserializer=decode)
    assert not (tmp_path / "ran").exists()


def test_an_unknown_error_class_falls_back_to_earshots_own() -> None:
    raw = _result(False, BusyError("x"))
    raw = raw.replace(b'"BusyError"', b'"SomethingElse"')
    back = decode(raw)["r"]
    assert type(back) is EarshotError and str(back) == "x"
