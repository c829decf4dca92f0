"""SoundCloud and Bandcamp tracks (issue 23): heard through yt-dlp restricted to that
site's own extractor, cached and joined to the catalog under their own key
("soundcloud:user/track"), suggested with a link to their own page, and left out of the
YouTube play-all link. In the tests, the key is served by the media stand-in (as YouTube
ids are); the extractor restriction is checked on yt-dlp itself."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import yt_dlp
from arq.jobs import deserialize_result, serialize_result
from yt_dlp.utils import DownloadError

from recommender.engine import Engine
from recommender.listening import job_codec
from recommender.listening.workers import Listened
from recommender.results import Query, Recommendation, RecommendResult
from recommender.song_keys import song_key, split_key
from recommender.sources.pages import song_page
from recommender.sources.youtube import FetchOptions, VideoInfo, VideoUnavailableError, _params
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from tests.conftest import listening_engine

SOUNDCLOUD = "https://soundcloud.com/forss/flickermood?utm_source=clipboard"
BANDCAMP = "https://artist-name.bandcamp.com/track/a-song"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site-media")
    (root / "soundcloud:forss").mkdir()
    make_song(root / "soundcloud:forss" / "flickermood.mp3", 40.0, tone=233.0)
    (root / "bandcamp:artist-name").mkdir()
    make_song(root / "bandcamp:artist-name" / "a-song.mp3", 40.0, tone=311.0)
    return root


@pytest.fixture()
async def engine(
    built_catalog: Path, tmp_path: Path, fake_vggish: Path, pca_params: Path, media: Path
) -> AsyncIterator[Engine]:
    async with listening_engine(built_catalog, tmp_path, fake_vggish, pca_params, media) as e:
        yield e


def test_a_songs_key_carries_its_source() -> None:
    assert song_key("youtube", "dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert song_key("soundcloud", "forss/flickermood") == "soundcloud:forss/flickermood"
    assert split_key("soundcloud:forss/flickermood") == ("soundcloud", "forss/flickermood")
    assert split_key("bandcamp:a/b") == ("bandcamp", "a/b")
    assert split_key("dQw4w9WgXcQ") == ("youtube", "dQw4w9WgXcQ")
    assert split_key("words:x") == ("youtube", "words:x")  # words are never a song's key
    assert song_page("soundcloud:forss/flickermood", 95) == (
        "https://soundcloud.com/forss/flickermood#t=1:35"
    )
    assert song_page("bandcamp:artist-name/a-song", 30) == (
        "https://artist-name.bandcamp.com/track/a-song"
    )
    assert song_page("dQw4w9WgXcQ", 30) == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=30s"


async def test_a_soundcloud_track_is_heard_and_joins_the_catalog_under_its_own_key(
    engine: Engine,
) -> None:
    before = await engine.store.count_tracks("member")
    result = await engine.recommend(SOUNDCLOUD, 3)
    q = result.query
    assert (q.video_id, q.source, q.heard_from) == (
        "soundcloud:forss/flickermood",
        "download",
        "SoundCloud",
    )
    assert q.url == "https://soundcloud.com/forss/flickermood"
    assert len(result.items) == 3
    assert await engine.store.count_tracks("member") == before + 1
    clips = await engine.store.tracks_by_video("soundcloud:forss/flickermood")
    assert [c.source for c in clips] == ["member"]
    again = await engine.recommend("https://m.soundcloud.com/forss/flickermood", 2)
    assert again.query.source in ("cache", "catalog") and again.query.heard_from == "SoundCloud"
    facts = await engine.facts.current(["soundcloud:forss/flickermood"])  # no oEmbed asked
    assert facts["soundcloud:forss/flickermood"].playable


async def test_a_bandcamp_track_is_heard_like_a_soundcloud_one(engine: Engine) -> None:
    result = await engine.recommend(BANDCAMP, 2)
    q = result.query
    assert (q.video_id, q.heard_from) == ("bandcamp:artist-name/a-song", "Bandcamp")
    assert q.url == BANDCAMP


async def test_a_track_its_site_will_not_give_is_refused_in_a_sentence(engine: Engine) -> None:
    with pytest.raises(VideoUnavailableError) as caught:
        await engine.recommend("https://soundcloud.com/forss/gone-now", 2)
    said = str(caught.value)
    assert said.startswith("SoundCloud would not let earshot listen to that track (")
    assert "404" in said and "Traceback" not in said


def test_each_site_loads_its_own_extractor_only(tmp_path: Path) -> None:
    options = FetchOptions(ffmpeg="ffmpeg", max_video_seconds=600, section_seconds=5,
                           section_count=2, max_bytes=10**6)  # fmt: skip
    for source, pattern in (("soundcloud", "soundcloud$"), ("bandcamp", "bandcamp$")):
        params = _params(options, source)
        assert params["allowed_extractors"] == [pattern]
        with yt_dlp.YoutubeDL({**params, "logger": None}) as ydl:
            assert set(ydl._ies) == {"Soundcloud" if source == "soundcloud" else "Bandcamp"}
            with pytest.raises(DownloadError, match="No suitable extractor found"):
                ydl.extract_info("https://example.com/track/1", download=False)


def test_a_go_plus_preview_is_known_said_and_kept_out_of_the_catalog() -> None:
    """yt-dlp's SoundCloud extractor marks a Go+ track's 30 s excerpt in its format id
    (``http_mp3_128_preview``); earshot listens to it, says so, and the flag crosses the
    listening queue intact."""
    info = VideoInfo("soundcloud:a/b", "B", "A", 200.0, {"format_id": "hls_opus_64_preview"})
    assert info.preview
    assert not dataclasses.replace(info, info={"format_id": "http_mp3_128"}).preview
    listened = Listened(np.zeros((31, 128), np.uint8), "B", "A", 200.0, "m", preview=True)
    raw = serialize_result(
        job_codec.LISTEN_FUNCTION, ("soundcloud:a/b", None, "m"), {}, 1, 1, True, listened,
        2, 3, "ref", "earshot:queue", "listen:x", serializer=job_codec.encode,
    )  # fmt: skip
    assert deserialize_result(raw, deserializer=job_codec.decode).result.preview


def test_the_play_all_link_covers_the_youtube_suggestions_only() -> None:
    def item(key: str) -> Recommendation:
        return Recommendation(1, key, 0.0, song_page(key), [], 1.0, 0.5, 0.5, live=True)

    items = [item("aaaaaaaaaaa"), item("soundcloud:x/y"), item("bbbbbbbbbbb")]
    result = RecommendResult(Query("q", "", "catalog"), items)
    assert result.play_all == ["aaaaaaaaaaa", "bbbbbbbbbbb"]
    assert items[1].url == "https://soundcloud.com/x/y"


def test_soundcloud_and_bandcamp_links_are_answered_through_the_bot(
    built_catalog: Path, fake_vggish: Path, pca_params: Path, media: Path, tmp_path: Path
) -> None:
    """A member pastes a SoundCloud link, then a Bandcamp one: each reply names where it
    was heard and links the song's own page; the play-all link stays YouTube's."""
    from scripts.standins.bot_process import BotProcess
    from scripts.standins.discord_api import FakeDiscord
    from tests.test_bot import listening_env, member, recommend

    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with FakeDiscord() as discord, RangeServer(media) as server:
        bot = BotProcess(
            discord, data, tmp_path / "bot.log", **listening_env(server, fake_vggish, pca_params)
        )
        bot.start()
        try:
            for link, page, said in (
                (SOUNDCLOUD, "https://soundcloud.com/forss/flickermood", "SoundCloud"),
                (BANDCAMP, BANDCAMP, "Bandcamp"),
            ):
                answer = recommend(discord, member(), link, 3)
                assert answer["kind"] == "public", answer["content"]
                embed = answer["message"]["embeds"][0]
                assert embed["url"] == page
                assert f"Heard: {said}" in embed["description"].splitlines()
        finally:
            bot.stop()
