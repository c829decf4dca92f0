"""`python -m recommender add LINK` for a Deezer playlist or album and an Apple Music album:
the songs listed by the service's keyless API (its stand-in, paged as Deezer pages),
each found on YouTube Music by artist and title (the search stand-in) and heard from the
video found (the media stand-in), keyed and linked by that video."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.sources.music_lists import parse_list
from recommender.sources.urls import BadLink
from scripts.standins.cli import ROOT, cli_env, run_cli
from scripts.standins.http_range import RangeServer
from scripts.standins.media import make_song
from scripts.standins.music_apis import MusicApis
from scripts.standins.youtube_search import Result, YouTubeSearch
from tests.conftest import add_env

SONGS = [  # Deezer id, title, artist, seconds, the video YouTube Music finds ('' none)
    ("3135556", "One More Time", "Daft Punk", 320, "FGBhQbmPwH8"),
    ("3135553", "Aerodynamic", "Daft Punk", 212, "L93-7vRfxNs"),
    ("3135554", "Digital Love", "Daft Punk", 301, ""),
]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("list-media")
    for n, (*_, video) in enumerate(SONGS):
        if video:
            make_song(root / f"{video}.mp3", 20.0, tone=180.0 + 60 * n)
    return root


@pytest.fixture()
def data(catalog_copy: Path) -> Path:
    return catalog_copy


@pytest.fixture()
def env(fake_vggish: Path, pca_params: Path, media: Path):  # type: ignore[no-untyped-def]
    with RangeServer(media) as server:
        yield add_env(
            fake_vggish, pca_params, EARSHOT_TEST_ALLOW_LOOPBACK="1",
            EARSHOT_TEST_MEDIA_BASE=server.url(""), SECTION_SECONDS="5",
        )  # fmt: skip


def _songs(data: Path) -> list[tuple]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute(
            "SELECT song_key, source, origin, artist, title, album FROM songs ORDER BY title"
        ).fetchall()


def test_a_deezer_playlist_is_found_on_youtube_music_and_heard_song_by_song(
    data: Path,
    env: dict[str, str],
    music_services: MusicApis,
    youtube_search: YouTubeSearch,
) -> None:
    for deezer_id, title, artist, seconds, video in SONGS:
        music_services.add_deezer(deezer_id, title, artist, seconds, "")
        found = [Result(video, title, artist, seconds, "Discovery")] if video else []
        youtube_search.add(f"{artist} {title}", songs=found)
    # 120 songs: two of Deezer's pages of 100; the same three songs again and again.
    music_services.add_deezer_list("playlist", "908622995", "Road Trip",
                                   [s[0] for s in SONGS] * 40)  # fmt: skip
    link = "https://www.deezer.com/en/playlist/908622995"
    result = run_cli(data, "add", link, check=False, **env)
    summary = result.stdout
    assert "120 songs found, 2 added, 78 already there, 40 refused" in summary, result
    assert "YouTube has no song that matches 'Daft Punk Digital Love'" in summary
    assert "Traceback" not in result.stderr
    assert _songs(data) == [
        ("L93-7vRfxNs", "deezer", "deezer:3135553", "Daft Punk", "Aerodynamic", "Discovery"),
        ("FGBhQbmPwH8", "deezer", "deezer:3135556", "Daft Punk", "One More Time", "Discovery"),
    ]
    pages = [q for q in music_services.queries if "/playlist/908622995/tracks" in q]
    assert len(pages) == 2 and "index=100" in pages[1]
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        kinds = db.execute(
            "SELECT source FROM tracks WHERE video_id IN ('FGBhQbmPwH8', 'L93-7vRfxNs')"
        ).fetchall()
    assert kinds == [("song",), ("song",)]  # heard as a member's would be, kept as songs


def test_an_apple_music_album_and_the_links_no_service_lists(
    data: Path,
    env: dict[str, str],
    music_services: MusicApis,
    youtube_search: YouTubeSearch,
) -> None:
    music_services.add_apple("697195462", "One More Time", "Daft Punk", 320, "")
    music_services.add_apple_album("697194953", "Discovery", ["697195462"])
    youtube_search.add(
        "Daft Punk One More Time",
        songs=[Result("FGBhQbmPwH8", "One More Time", "Daft Punk", 320, "Discovery")],
    )
    album = "https://music.apple.com/fr/album/discovery/697194953"
    assert "1 songs found, 1 added" in run_cli(data, "add", album, **env).stdout
    assert _songs(data) == [
        ("FGBhQbmPwH8", "apple_music", "apple_music:697195462", "Daft Punk", "One More Time",
         "Discovery"),
    ]  # fmt: skip
    missing = run_cli(data, "add", "https://www.deezer.com/album/1", check=False, **env)
    assert missing.returncode == 1 and "Deezer has no album 1" in missing.stderr
    assert "Traceback" not in missing.stderr
    for link in (
        "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M",
        "https://www.deezer.com/track/3135556",
        "https://music.apple.com/us/playlist/pl.123",
    ):
        with pytest.raises(BadLink, match="cannot list the songs of that link; give a Deezer"):
            parse_list(link)
    assert parse_list("https://www.deezer.com/fr/album/302127").kind == "album"


def _peak_mb(data: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    """The add command's own peak memory (MB), run in one process, and what it printed."""
    code = (
        "import resource, runpy, sys\n"
        f"sys.argv = ['recommender', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('recommender', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=cli_env(data, **env),
        capture_output=True, text=True, timeout=600,  # a hang guard: seconds each
    )  # fmt: skip
    peak = [line for line in result.stdout.splitlines() if line.startswith("peak ")]
    assert peak, result.stdout + result.stderr
    return int(peak[-1].split()[1]) / 1024, result.stdout


def test_a_five_thousand_song_playlist_is_read_in_flat_memory(
    data: Path,
    env: dict[str, str],
    music_services: MusicApis,
    youtube_search: YouTubeSearch,
) -> None:
    """A list's songs stream through a bounded queue: 5,000 of them (50 of Deezer's pages,
    each song already there after the first) cost no more memory than 50."""
    deezer_id, title, artist, seconds, video = SONGS[0]
    music_services.add_deezer(deezer_id, title, artist, seconds, "")
    youtube_search.add(f"{artist} {title}", songs=[Result(video, title, artist, seconds)])
    music_services.add_deezer_list("playlist", "1", "One", [deezer_id])
    run_cli(data, "add", "https://www.deezer.com/playlist/1", "--no-links", **env)
    music_services.add_deezer_list("playlist", "50", "Fifty", [deezer_id] * 50)
    music_services.add_deezer_list("playlist", "5000", "Many", [deezer_id] * 5000)
    small, said = _peak_mb(data, env, "add", "https://www.deezer.com/playlist/50", "--no-links")
    assert "50 songs found, 0 added, 50 already there" in said
    large, said = _peak_mb(data, env, "add", "https://www.deezer.com/playlist/5000", "--no-links")
    assert "5,000 songs found, 0 added, 5,000 already there" in said
    assert large - small < 40, (small, large)  # about 1 kB a song would be 5 MB
