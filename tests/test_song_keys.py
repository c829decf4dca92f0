"""Song keys from anywhere but earshot's own parsers (a forged queue job, a search answer, a
stored row) are held to each source's exact id before anything is fetched: a key is never
a way to make a worker connect to a host of someone's choosing."""

from __future__ import annotations

import pytest
from arq.jobs import DeserializationError, deserialize_job, serialize_job

from recommender.listening.job_codec import LISTEN_FUNCTION, decode, encode
from recommender.song_keys import InvalidSongKeyError, checked_key, is_valid_key
from recommender.sources import bandcamp, soundcloud
from recommender.sources.naming import parse_song
from recommender.sources.pages import song_page
from recommender.sources.youtube import FetchOptions, source_url

GOOD = {
    "dQw4w9WgXcQ": ("youtube", "dQw4w9WgXcQ"),
    "spotify:4uLU6hMCjMI75M1A2tKUQC": ("spotify", "4uLU6hMCjMI75M1A2tKUQC"),
    "deezer:3135556": ("deezer", "3135556"),
    "apple_music:1440857781": ("apple_music", "1440857781"),
    "soundcloud:forss/flickermood": ("soundcloud", "forss/flickermood"),
    "bandcamp:lorde/royals": ("bandcamp", "lorde/royals"),
}
# Each source's key bent toward a host and port of the sender's choosing, and the rest.
FORGED = [
    "bandcamp:127.0.0.1:42443#/x",
    "bandcamp:127.0.0.1:42443?/x",
    "bandcamp:evil.example.net/x",
    "bandcamp:lorde/royals#@127.0.0.1",
    "soundcloud:forss/flickermood@127.0.0.1:8080",
    "soundcloud:127.0.0.1:42443/x",
    "soundcloud:forss/../../x",
    "soundcloud:forss",
    "spotify:4uLU6hMCjMI75M1A2tKUQC/../x",
    "deezer:3135556?host=127.0.0.1",
    "apple_music:https://127.0.0.1/",
    "dQw4w9WgXcQ#",
    "https://127.0.0.1:42443/",
    "127.0.0.1:42443",
    "words:daft punk",
    "",
    "x" * 5000,
]


def test_every_source_keeps_its_exact_ids() -> None:
    for key, expected in GOOD.items():
        assert checked_key(key) == expected and is_valid_key(key)
    for key in FORGED:
        assert not is_valid_key(key), key
        with pytest.raises(InvalidSongKeyError) as refused:
            checked_key(key)
        assert "its id is not one the site uses" in str(refused.value)
    assert not is_valid_key(None) and not is_valid_key(42)


def test_what_the_parsers_accept_are_valid_keys() -> None:
    for text in (
        "https://youtu.be/dQw4w9WgXcQ",
        "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
        "https://www.deezer.com/en/track/3135556",
        "https://music.apple.com/us/song/royals/1440857781",
        "https://soundcloud.com/forss/flickermood",
        "https://lorde.bandcamp.com/track/royals",
    ):
        ref = parse_song(text)
        key = ref.id if ref.source == "youtube" else f"{ref.source}:{ref.id}"
        assert is_valid_key(key), (text, key)


@pytest.mark.parametrize("key", FORGED)
def test_a_forged_queue_job_is_refused_before_it_runs(key: str) -> None:
    raw = serialize_job(LISTEN_FUNCTION, (key, None, "v1"), {}, 1, 1234, serializer=encode)
    with pytest.raises(DeserializationError):
        deserialize_job(raw, deserializer=decode)


def test_no_page_and_no_fetch_is_made_of_a_forged_key() -> None:
    options = FetchOptions("ffmpeg", 600, 30, 2, 10_000_000)
    for key in FORGED:
        with pytest.raises(InvalidSongKeyError):
            source_url(key, options)
        with pytest.raises(InvalidSongKeyError):
            song_page(key)
    with pytest.raises(InvalidSongKeyError):
        bandcamp.page("127.0.0.1:42443#/x")
    with pytest.raises(InvalidSongKeyError):
        soundcloud.page("forss/flickermood@127.0.0.1")
    assert source_url("bandcamp:lorde/royals", options) == "https://lorde.bandcamp.com/track/royals"
    assert source_url("soundcloud:forss/flickermood", options) == (
        "https://soundcloud.com/forss/flickermood"
    )
    with pytest.raises(InvalidSongKeyError):  # a preview source is never fetched by yt-dlp
        source_url("spotify:4uLU6hMCjMI75M1A2tKUQC", options)
