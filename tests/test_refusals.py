"""YouTube's refusals, raised through a real YoutubeDL the way its YouTube extractor raises
them, each mapped to its own member message and log line.

The reason texts are YouTube's own as yt-dlp passes them on (yt-dlp's extractor appends
its login hint to "Sign in" reasons, and words the rate limit itself); the exception
types are yt-dlp's: ExtractorError, GeoRestrictedError, UserNotLive, and HTTPError as the
cause of a failed page download.
"""

from __future__ import annotations

import io
import logging
import pickle

import pytest
import yt_dlp
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError, ExtractorError, UserNotLive

from recommender.sources import refusals
from recommender.sources.youtube import (
    LiveStreamError,
    VideoInfo,
    VideoUnavailableError,
    _refused,
    check_playable,
)

LOGIN_HINT = (
    "Use --cookies-from-browser or --cookies for the authentication. See  "
    "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to "
    "manually pass cookies. Also see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#"
    "exporting-youtube-cookies  for tips on effectively exporting YouTube cookies"
)


def _no_formats(reason: str):
    def extract(ie: InfoExtractor, video_id: str) -> None:
        ie.raise_no_formats(reason, expected=True, video_id=video_id)

    return extract


def _geo(ie: InfoExtractor, video_id: str) -> None:
    ie.raise_geo_restricted(
        "The uploader has not made this video available in your country",
        ["US"],
        metadata_available=True,
    )


def _http(status: int, reason: str):
    def extract(ie: InfoExtractor, video_id: str) -> None:
        response = Response(io.BytesIO(b""), "https://www.youtube.com/watch", {}, status, reason)
        try:
            raise HTTPError(response)
        except HTTPError as error:
            raise ExtractorError(
                f"Unable to download webpage: {error}", cause=error, video_id=video_id
            ) from error

    return extract


def _not_live(ie: InfoExtractor, video_id: str) -> None:
    raise UserNotLive(video_id=video_id)


CASES = [
    (_no_formats("Private video. Sign in if you've been granted access to this video"), "private"),
    (
        _no_formats("Video unavailable. This video has been removed by the uploader"),
        "removed",
    ),
    (
        _no_formats(
            "Video unavailable. This video is no longer available because the YouTube account "
            "associated with this video has been terminated."
        ),
        "removed",
    ),
    (
        _no_formats(
            "Sign in to confirm your age. This video may be inappropriate for some users. "
            + LOGIN_HINT
        ),
        "age_restricted",
    ),
    (
        _no_formats(
            "Join this channel to get access to members-only content like this video, and "
            "other exclusive perks."
        ),
        "members_only",
    ),
    (_geo, "region_blocked"),
    (_no_formats("Premieres in 3 hours"), "not_premiered"),
    (_no_formats("This live event will begin in a few moments."), "not_premiered"),
    (_not_live, "not_premiered"),
    (_no_formats("Sign in to confirm you\u2019re not a bot. " + LOGIN_HINT), "bot_check"),
    (_no_formats("Sign in to confirm you're not a bot. " + LOGIN_HINT), "bot_check"),
    (_http(429, "Too Many Requests"), "rate_limited"),
    (
        _no_formats(
            "This content isn't available, try again later. The current session has been "
            "rate-limited by YouTube for up to an hour."
        ),
        "rate_limited",
    ),
    (_no_formats("Video unavailable"), "unavailable"),
    (_http(403, "Forbidden"), "unknown"),
]


def _raise_through_yt_dlp(extract) -> DownloadError:
    class FakeYoutubeIE(InfoExtractor):
        IE_NAME = "youtube"
        _VALID_URL = r"https?://www\.youtube\.com/watch\?v=(?P<id>[\w-]{11})"

        def _real_extract(self, url: str) -> None:
            extract(self, self._match_id(url))

    params = {"quiet": True, "logger": logging.getLogger("test-yt-dlp")}
    with yt_dlp.YoutubeDL(params, auto_init=False) as ydl:
        ydl.add_info_extractor(FakeYoutubeIE())
        with pytest.raises(DownloadError) as raised:
            ydl.extract_info("https://www.youtube.com/watch?v=abcdefghijk", download=False)
    return raised.value


@pytest.mark.parametrize(("extract", "kind"), CASES)
def test_each_refusal_has_its_own_kind(extract, kind: str) -> None:
    error = _raise_through_yt_dlp(extract)
    assert refusals.classify(error).kind == kind


def test_every_kind_reads_differently_to_a_member() -> None:
    kinds = {refusals.classify(_raise_through_yt_dlp(e)) for e, _ in CASES}
    messages = [r.member_message for r in kinds]
    assert len(set(messages)) == len(messages) == len({k for _, k in CASES})
    assert all(m.endswith(".") and "yt-dlp" not in m and "--cookies" not in m for m in messages)


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "recommender.sources.youtube"]


def test_a_refusal_is_logged_on_its_own_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "recommender.sources.youtube")
    private = _refused("abcdefghijk", _raise_through_yt_dlp(CASES[0][0]), "read")
    assert private.refusal is refusals.PRIVATE and "private" in str(private)
    (record,) = _ours(caplog)
    assert record.levelno == logging.WARNING and "abcdefghijk (private)" in record.getMessage()
    caplog.clear()
    bot = _refused("abcdefghijk", _raise_through_yt_dlp(CASES[9][0]), "read")
    assert bot.refusal is refusals.BOT_CHECK
    (record,) = _ours(caplog)
    assert record.levelno == logging.ERROR
    assert "YTDLP_COOKIES_FILE" in record.getMessage() and "PO-token" in record.getMessage()
    assert "--cookies" not in str(bot)  # the member is not given yt-dlp's flags


def test_refusals_cross_process_boundaries_intact() -> None:
    for error in (VideoUnavailableError(refusals.RATE_LIMITED), LiveStreamError()):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and back.refusal == error.refusal
        assert str(back) == str(error)


def _info(**fields: object) -> VideoInfo:
    return VideoInfo("abcdefghijk", "t", "c", None, dict(fields))


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"is_live": True, "live_status": "is_live"}, "live"),
        ({"live_status": "post_live"}, "live"),
        ({"live_status": "is_upcoming"}, "not_premiered"),
        ({"availability": "private"}, "private"),
        ({"availability": "subscriber_only"}, "members_only"),
        ({"availability": "premium_only"}, "premium_only"),
        ({"availability": "needs_auth"}, "age_restricted"),
    ],
)
def test_metadata_refusals_use_the_same_kinds(fields: dict, kind: str) -> None:
    with pytest.raises(VideoUnavailableError) as raised:
        check_playable(_info(**fields), 3600)
    assert raised.value.refusal.kind == kind
