"""Songs named in words, and songs whose source has no preview (issue 23, step 3): found
by the real search clients (ytmusicapi, yt-dlp's youtube:search) against a loopback
stand-in of YouTube's innertube search, chosen by the scorer, then heard like a link."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from recommender.engine import Engine
from recommender.sources.reference import SongNotFoundError
from recommender.sources.web import SourceUnavailableError
from scripts.standins.media import make_song
from scripts.standins.music_apis import MusicApis
from scripts.standins.youtube_search import Result, YouTubeSearch
from tests.conftest import listening_engine

SPOTIFY_ID = "4cOdK2wGLETKBW3PvgPWqT"
FRESH = "FreshSong01"  # not in the catalog: served by the media stand-in


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search-media")
    make_song(root / f"{FRESH}.mp3", 20.0, tone=275.0)
    return root


@pytest.fixture()
def search(youtube_search: YouTubeSearch) -> Iterator[YouTubeSearch]:
    """The session's stand-in, its results as they were after the test."""
    saved = dict(youtube_search.songs), dict(youtube_search.videos)
    youtube_search.searches.clear()
    try:
        yield youtube_search
    finally:
        youtube_search.songs, youtube_search.videos = saved
        youtube_search.status_for.clear()


@pytest.fixture()
async def engine(
    built_catalog: Path,
    tmp_path: Path,
    fake_vggish: Path,
    pca_params: Path,
    media: Path,
    music_services: MusicApis,
) -> AsyncIterator[Engine]:
    async with listening_engine(built_catalog, tmp_path, fake_vggish, pca_params, media) as e:
        yield e


def catalog_videos(engine: Engine, count: int) -> list[str]:
    with sqlite3.connect(engine.settings.data_dir / "earshot.sqlite3") as db:
        rows = db.execute(
            "SELECT DISTINCT video_id FROM tracks WHERE source = 'bal_train' ORDER BY id LIMIT ?",
            (count,),
        ).fetchall()
    return [r[0] for r in rows]


async def test_words_find_the_official_song_on_youtube_music(
    engine: Engine, search: YouTubeSearch
) -> None:
    official, cover = catalog_videos(engine, 2)
    search.add(
        "daft punk one more time",
        songs=[
            Result(cover, "One More Time (Piano Cover)", "Some Pianist", 318),
            Result(official, "One More Time", "Daft Punk", 320, "Discovery"),
        ],
    )
    result = await engine.recommend("Daft Punk  one more time", 3)
    q = result.query
    assert (q.video_id, q.title, q.channel) == (official, "One More Time", "Daft Punk")
    assert q.heard_from == "YouTube search for 'Daft Punk one more time'"
    assert q.url == f"https://www.youtube.com/watch?v={official}"
    assert len(result.items) == 3 and official not in {i.video_id for i in result.items}
    assert search.searches == [("music.youtube.com", "daft punk one more time")]
    # Asked again, the search is remembered.
    await engine.recommend("Daft Punk one more time", 3)
    assert len(search.searches) == 1


async def test_without_a_song_result_the_video_search_is_scored(
    engine: Engine, search: YouTubeSearch
) -> None:
    search.add(
        "the band demo tape",
        videos=[
            Result("LiveVersion", "Demo Tape (Live at Wembley)", "The Band", 300),
            Result("NightcoreVr", "Demo Tape - Nightcore", "Speedy", 150),
            Result(FRESH, "The Band - Demo Tape (Official Audio)", "The Band", 200),
            Result("HourLoop123", "Demo Tape 1 hour", "Loops", 3600),
        ],
    )
    result = await engine.recommend("the band demo tape", 2)
    q = result.query
    assert (q.video_id, q.source) == (FRESH, "download")  # listened to, like a link
    assert q.title == "The Band - Demo Tape (Official Audio)" and q.channel == "The Band"
    assert [host for host, _ in search.searches] == ["music.youtube.com", "www.youtube.com"]
    assert len(result.items) == 2


async def test_words_that_match_nothing_are_refused_in_a_sentence(
    engine: Engine, search: YouTubeSearch
) -> None:
    search.add("zzqx unheard of", videos=[Result(FRESH, "Completely Else", "Other", 200)])
    with pytest.raises(SongNotFoundError) as caught:
        await engine.recommend("zzqx unheard of", 2)
    assert str(caught.value) == (
        "YouTube has no song that matches 'zzqx unheard of'. Check the spelling, add the "
        "artist, or paste the song's link."
    )


async def test_a_search_youtube_refuses_is_said_plainly(
    engine: Engine, search: YouTubeSearch
) -> None:
    search.status_for["any song at all"] = 429
    with pytest.raises(SourceUnavailableError, match="YouTube's search did not answer"):
        await engine.recommend("any song at all", 2)
    # One search failing still lets the other answer.
    official = catalog_videos(engine, 1)[0]
    search.add("second try song", videos=[Result(official, "Second Try Song", "Artist", 200)])
    search.status_for["second try song"] = 0
    result = await engine.recommend("second try song", 2)
    assert result.query.video_id == official


async def test_a_spotify_song_without_a_preview_is_found_on_youtube_by_name_and_length(
    engine: Engine, search: YouTubeSearch, music_services: MusicApis
) -> None:
    extended, official = catalog_videos(engine, 2)
    music_services.add_spotify(SPOTIFY_ID, "One More Time", ["Daft Punk"], 320, "")
    search.add(
        "one more time daft punk",
        songs=[
            Result(extended, "One More Time", "Daft Punk", 600),  # another cut
            Result(official, "One More Time", "Daft Punk", 321),
        ],
    )
    result = await engine.recommend(f"https://open.spotify.com/track/{SPOTIFY_ID}", 2)
    q = result.query
    assert q.video_id == official
    assert q.heard_from == (
        "YouTube search for 'One More Time Daft Punk'; Spotify has no preview of it"
    )


def test_the_search_stand_in_was_never_asked_for_another_host(
    youtube_search: YouTubeSearch,
) -> None:
    assert youtube_search.refused == []
