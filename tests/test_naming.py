"""A song named any way, parsed without the network (issue 23, step one): each source's
links, a Spotify URI, a YouTube id, words; and everything else refused in one sentence
that says what is accepted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from recommender.sources.naming import find_song_link, parse_song
from recommender.sources.reference import ACCEPTED_SONGS, SongRefError
from scripts.standins.cli import ROOT
from tests.test_links import ACCEPTED as YOUTUBE_LINKS
from tests.test_links import ID
from tests.test_links import REFUSED as YOUTUBE_REFUSED

SPOTIFY = "4cOdK2wGLETKBW3PvgPWqT"

ACCEPTED = [
    (f"https://open.spotify.com/track/{SPOTIFY}", "spotify", SPOTIFY),
    (
        f"https://open.spotify.com/track/{SPOTIFY}?si=1f2e3d4c5b6a7980&utm_source=copy-link",
        "spotify",
        SPOTIFY,
    ),
    (f"https://open.spotify.com/intl-de/track/{SPOTIFY}", "spotify", SPOTIFY),
    (f"open.spotify.com/track/{SPOTIFY}", "spotify", SPOTIFY),
    (f"spotify:track:{SPOTIFY}", "spotify", SPOTIFY),
    (f"<https://open.spotify.com/track/{SPOTIFY}>", "spotify", SPOTIFY),
    (f"SPOTIFY:TRACK:{SPOTIFY}", "spotify", SPOTIFY),
    (f"[listen](https://open.spotify.com/track/{SPOTIFY})", "spotify", SPOTIFY),
    (
        "https://music.apple.com/us/album/one-more-time/697194953?i=697195462",
        "apple_music",
        "697195462",
    ),
    ("https://music.apple.com/fr/song/one-more-time/697195462", "apple_music", "697195462"),
    (
        "https://geo.music.apple.com/us/album/_/697194953?i=697195462&app=music",
        "apple_music",
        "697195462",
    ),
    ("https://www.deezer.com/track/3135556", "deezer", "3135556"),
    ("https://www.deezer.com/fr/track/3135556?utm_source=deezer", "deezer", "3135556"),
    ("deezer.com/en/track/3135556", "deezer", "3135556"),
    ("https://soundcloud.com/forss/flickermood", "soundcloud", "forss/flickermood"),
    ("https://m.soundcloud.com/forss/flickermood?in=x", "soundcloud", "forss/flickermood"),
    ("https://soundcloud.com/Forss/Flickermood", "soundcloud", "forss/flickermood"),
    ("https://artist.bandcamp.com/track/a-song", "bandcamp", "artist/a-song"),
    ("https://some-band.bandcamp.com/track/song_2", "bandcamp", "some-band/song_2"),
    ("daft punk one more time", "words", "daft punk one more time"),
    ("  Daft Punk —  One More Time  ", "words", "Daft Punk — One More Time"),
    ("Jolene", "words", "Jolene"),
    ("Thunderbolt", "words", "Thunderbolt"),  # 11 letters, but a word, not an id
    ("Mr.Brightside", "words", "Mr.Brightside"),
    ("Sigur Rós – Hoppípolla", "words", "Sigur Rós – Hoppípolla"),
    ("Song: Part 2", "words", "Song: Part 2"),
    (ID, "youtube", ID),
]

REFUSED = [
    # Lookalike hosts and hidden hosts
    (f"https://open.spotify.com.example.net/track/{SPOTIFY}", "not a music service"),
    (f"https://spotify.com@example.net/track/{SPOTIFY}", "user name or password"),
    (f"https://open.spotify.com@example.net/track/{SPOTIFY}", "user name or password"),
    (f"https://notspotify.com/track/{SPOTIFY}", "not a music service"),
    ("https://music.apple.com.evil.example/us/song/x/697195462", "not a music service"),
    ("https://deezer.com.evil.example/track/3135556", "not a music service"),
    ("https://soundcloud.com.evil.example/forss/flickermood", "not a music service"),
    ("https://evilsoundcloud.com/forss/flickermood", "not a music service"),
    ("https://bandcamp.com.evil.example/track/a", "not a music service"),
    ("https://artist.bandcamp.com.evil.example/track/a", "not a music service"),
    ("https://www.bandcamp.com/track/a", "names no artist"),
    ("https://artist.example.com/track/a-song", "not a music service"),  # custom domain
    (f"https://open.spotify.com:8443/track/{SPOTIFY}", "port"),
    (f"ftp://open.spotify.com/track/{SPOTIFY}", "scheme"),
    # Share links that only redirect (following them needs the network)
    ("https://link.deezer.com/s/30mnbEKR3hPK5c8DJtFP2", "share link"),
    ("https://deezer.page.link/abcdefg", "share link"),
    ("https://on.soundcloud.com/AbCdEfGh", "share link"),
    ("https://spotify.link/AbCdEfGh", "share link"),
    ("https://www.deezer.com/track/１２３", "does not name a track"),  # fullwidth digits
    # Lists: one song is needed
    ("https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M", "not one song"),
    ("https://open.spotify.com/album/2noRn2Aes5aoNVsU6iWThc", "not one song"),
    ("https://open.spotify.com/artist/4tZwfgrHOc3mvqYlEYSvVi", "not one song"),
    ("spotify:album:2noRn2Aes5aoNVsU6iWThc", "not one song"),
    ("spotify:track:short", "does not name a track"),
    ("https://music.apple.com/us/album/discovery/697194953", "not one song"),
    ("https://music.apple.com/us/playlist/x/pl.123", "not one song"),
    ("https://www.deezer.com/album/302127", "not one song"),
    ("https://www.deezer.com/playlist/1479458365", "not one song"),
    ("https://soundcloud.com/forss/sets/soulhack", "not one song"),
    ("https://soundcloud.com/forss/likes", "not one song"),
    ("https://soundcloud.com/forss", "does not name a track"),
    ("https://artist.bandcamp.com/album/an-album", "not one song"),
    ("https://open.spotify.com/track/", "does not name a track"),
    ("https://www.deezer.com/track/abc", "does not name a track"),
    # Not songs at all
    ("listen to https://evil.example/x", "mixes words and a link"),
    ("— ~ —", "names no song"),
    ("!!!", "nothing was given"),
    ("a\x00b", "control characters"),
    ("x" * 201, "longer than 200"),
    ("word " * 120, "longer than 500"),
]

# test_links' refusals that are words now: they name no hostile thing, just odd words.
NOW_WORDS = {"youtube", "dQw4w9WgX!Q"}


@pytest.mark.parametrize(("text", "source", "song"), ACCEPTED)
def test_each_form_names_a_song(text: str, source: str, song: str) -> None:
    ref = parse_song(text)
    assert (ref.source, ref.id) == (source, song)
    assert ref.url.startswith("https://") or source == "words"


@pytest.mark.parametrize("text", YOUTUBE_LINKS)
def test_every_youtube_link_still_names_its_video(text: str) -> None:
    assert (parse_song(text).source, parse_song(text).id) == ("youtube", ID)


def test_a_linked_moment_is_kept() -> None:
    assert parse_song(f"https://youtu.be/{ID}?t=1m30s").start_s == 90.0


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused_in_one_sentence_that_says_what_is_accepted(text: str, reason: str) -> None:
    with pytest.raises(SongRefError) as caught:
        parse_song(text)
    said = str(caught.value)
    assert reason.lower() in said.lower() and said.endswith(f"Accepted: {ACCEPTED_SONGS}.")
    assert said[:1].isupper() or said[:1] == "'", said


@pytest.mark.parametrize(
    ("text", "reason"), [r for r in YOUTUBE_REFUSED if r[0].strip() not in NOW_WORDS]
)
def test_every_input_refused_before_is_still_refused(text: str, reason: str) -> None:
    with pytest.raises(SongRefError):
        parse_song(text)


NO_NETWORK = """
import sys

def refuse(event, args):
    if event.startswith("socket.") and event not in ("socket.__new__",):
        raise RuntimeError(f"network use: {event}")

sys.addaudithook(refuse)
from recommender.ops.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _parse_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_NETWORK, "parse", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_parse_command_prints_what_it_understood_without_the_network() -> None:
    done = _parse_cli(f"https://open.spotify.com/track/{SPOTIFY}?si=x", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "ok": True,
        "source": "spotify",
        "id": SPOTIFY,
        "url": f"https://open.spotify.com/track/{SPOTIFY}",
        "start_s": None,
    }
    words = _parse_cli("daft punk one more time")
    assert words.returncode == 0 and words.stdout.strip() == "words: daft punk one more time"
    refused = _parse_cli("https://open.spotify.com/album/2noRn2Aes5aoNVsU6iWThc", "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"].startswith("That Spotify album is not one song")
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"try https://youtu.be/{ID} and https://www.deezer.com/track/1", f"https://youtu.be/{ID}"),
        ("so good: https://www.deezer.com/track/3135556!", "https://www.deezer.com/track/3135556"),
        ("(https://music.apple.com/us/song/x/42)", "https://music.apple.com/us/song/x/42"),
        (
            f"https://open.spotify.com/track/{SPOTIFY} is great",
            f"https://open.spotify.com/track/{SPOTIFY}",
        ),
        (
            "https://soundcloud.com/forss/flickermood is great",
            "https://soundcloud.com/forss/flickermood",
        ),
        ("https://soundcloud.com/forss/sets/songs", None),  # a list, not one song
        ("https://evil.example/track/1", None),
        ("no links at all", None),
    ],
)
def test_a_chat_message_names_the_first_song_earshot_can_listen_to(
    text: str, found: str | None
) -> None:
    assert find_song_link(text) == found
