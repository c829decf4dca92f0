"""Listening jobs and their results on the queue as plain data (JSON), never pickle.

Redis is a trust boundary: with arq's default (pickle), anyone who can write to the
database behind QUEUE_URL runs code in every worker and bot process. Here a job is the
name of the one function workers run and its plain arguments, and a result is a
``Listened`` (frames as base64 bytes) or an earshot error (its class, message and
operator hint); both are read back only into those shapes. Anything else is refused with
a log line, and arq fails that job instead of running it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

import numpy as np
from arq.worker import JobExecutionFailed

from ..errors import EarshotError
from ..song_keys import is_valid_key
from ..sources.refusals import Refusal
from ..sources.youtube import VideoUnavailableError
from ..vggish_format import EMBEDDING_SIZE
from .workers import Listened, ListenersDiedError

log = logging.getLogger(__name__)

LISTEN_FUNCTION = "listen"
_KEYS = {"t": (int, type(None)), "f": str, "a": list, "k": dict, "et": int}  # arq's job fields
_FAILED = "<unknown>"  # the function arq names in the result of a job it could not read
_RESULT_KEYS = {"s": bool, "st": int, "ft": int, "q": str, "id": (str, type(None))}


class RefusedPayloadError(ValueError):
    """Bytes on the queue that are not a job or result earshot wrote."""


def encode(data: dict[str, Any]) -> bytes:
    """arq's job or result dict as JSON (arq calls this for both)."""
    plain = {key: value for key, value in data.items() if key != "r"}
    plain["a"] = list(data.get("a", ()))
    if "r" in data:
        plain["r"] = _encode_result(data["r"])
    return json.dumps(plain, separators=(",", ":"), allow_nan=False).encode()


def decode(raw: bytes) -> dict[str, Any]:
    """A job or result that ``encode`` wrote; anything else raises RefusedPayloadError."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise RefusedPayloadError("not a JSON object")
        _check_types(data, _KEYS)
        if "r" in data:
            _check_types(data, _RESULT_KEYS)
            if data["f"] == _FAILED and not data["s"]:  # arq's answer to a refused job
                data["r"] = _decode_result(data["r"], False)
                return data
        if data["f"] != LISTEN_FUNCTION or data["k"]:
            raise RefusedPayloadError(f"unknown function {data['f']!r}")
        data["a"] = _listen_arguments(data["a"])
        if "r" in data:
            data["r"] = _decode_result(data["r"], data["s"])
    except (RefusedPayloadError, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        log.warning(
            "refused a queue payload that earshot did not write (%d bytes): %s", len(raw), exc
        )
        raise RefusedPayloadError(str(exc)) from None
    return data


def _check_types(data: dict[str, Any], fields: dict[str, Any]) -> None:
    for key, kind in fields.items():
        if key not in data:
            raise RefusedPayloadError(f"no {key!r}")
        if not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool)):
            raise RefusedPayloadError(f"{key!r} is a {type(data[key]).__name__}")


def _listen_arguments(args: list[Any]) -> tuple[str, float | None, str]:
    """``listen(video_id, start_s, model_version)``, type-checked."""
    if len(args) != 3:
        raise RefusedPayloadError(f"listen takes 3 arguments, got {len(args)}")
    video_id, start_s, version = args
    if not isinstance(video_id, str) or not isinstance(version, str):
        raise RefusedPayloadError("video id and model version must be text")
    if not is_valid_key(video_id):  # a forged key must not become a page to fetch
        raise RefusedPayloadError(f"{video_id[:120]!r} is no song key a source accepts")
    return video_id, _number(start_s, "start"), version


def _encode_result(result: Any) -> dict[str, Any]:
    if isinstance(result, Listened):
        frames = np.ascontiguousarray(result.frames, dtype=np.uint8)
        return {
            "listened": {
                "frames": base64.b64encode(frames.tobytes()).decode("ascii"),
                "rows": int(frames.shape[0]),
                "title": result.title,
                "channel": result.channel,
                "duration_s": result.duration_s,
                "model_version": result.model_version,
                "preview": result.preview,
            }
        }
    if isinstance(result, VideoUnavailableError):
        refusal = result.refusal
        return {
            "refusal": {
                "class": type(result).__name__,
                "kind": refusal.kind,
                "member_message": refusal.member_message,
                "operator_hint": refusal.operator_hint,
            }
        }
    if isinstance(result, EarshotError):
        return {
            "error": {
                "class": type(result).__name__,
                "message": str(result),
                "operator_hint": result.operator_hint,
            }
        }
    if isinstance(result, JobExecutionFailed) and (
        tries := re.fullmatch(r"max (\d+) retries exceeded", str(result))
    ):  # arq's word for a job whose workers died on every try
        return _encode_result(ListenersDiedError(int(tries[1])))
    if isinstance(result, BaseException):  # arq's own (a time limit, a job it could not read)
        return {
            "error": {
                "class": "EarshotError",
                "message": "earshot could not listen to that song; try again in a minute.",
                "operator_hint": f"listening job failed: {type(result).__name__}: {result}",
            }
        }
    return {"text": str(result)}  # arq's note when a result could not be written


def _decode_result(result: Any, success: bool) -> Any:
    if not isinstance(result, dict) or len(result) != 1:
        raise RefusedPayloadError("a result must be one tagged object")
    [(tag, body)] = result.items()
    if tag == "text" and isinstance(body, str) and not success:
        return body
    if not isinstance(body, dict):
        raise RefusedPayloadError(f"{tag!r} is not an object")
    if tag == "listened" and success:
        return _listened(body)
    if tag == "refusal" and not success:
        refusal = Refusal(
            _text(body, "kind"), _text(body, "member_message"), _text(body, "operator_hint")
        )
        return _error_class(_text(body, "class"), VideoUnavailableError)(refusal)
    if tag == "error" and not success:
        cls = _error_class(_text(body, "class"), EarshotError)
        error = cls.__new__(cls)
        Exception.__init__(error, _text(body, "message"))
        error.operator_hint = _text(body, "operator_hint")
        return error
    raise RefusedPayloadError(f"unexpected result {tag!r}")


def _listened(body: dict[str, Any]) -> Listened:
    rows = body.get("rows")
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise RefusedPayloadError("frames without a row count")
    try:
        raw = base64.b64decode(_text(body, "frames"), validate=True)
    except binascii.Error as exc:
        raise RefusedPayloadError(f"frames are not base64: {exc}") from None
    if len(raw) != rows * EMBEDDING_SIZE:
        raise RefusedPayloadError(f"{len(raw)} bytes of frames for {rows} rows")
    duration = _number(body.get("duration_s"), "duration")
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(rows, EMBEDDING_SIZE).copy()
    return Listened(
        frames,
        _text(body, "title"),
        _text(body, "channel"),
        duration,
        _text(body, "model_version"),
        body.get("preview") is True,
    )


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RefusedPayloadError(f"{what} must be a number")
    return float(value)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise RefusedPayloadError(f"{key!r} must be text")
    return value


def _error_class(name: str, base: type[EarshotError]) -> type[EarshotError]:
    """An earshot error class this process knows, by name; else ``base`` (never an
    arbitrary class: only subclasses of earshot's own errors are looked up)."""
    pending: list[type[EarshotError]] = [base]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return base
