"""`python -m recommender add https://server`: a Subsonic server's songs (the whole library,
a playlist or an album), signed in with a salted token, against a stand-in that answers
as the API's documentation shows; a wrong password and a server that goes away mid-run
are said in words, and lose nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scripts.standins.cli import run_cli
from scripts.standins.media import make_song
from scripts.standins.subsonic import Album, SubsonicServer, Track
from tests.conftest import add_env

PASSWORD = "s3cret pass"


@pytest.fixture(scope="module")
def albums(tmp_path_factory: pytest.TempPathFactory) -> list[Album]:
    root = tmp_path_factory.mktemp("navidrome")
    made: list[Album] = []
    for a, (name, artist) in enumerate([("Blue Train", "John C"), ("Abbey Lane", "The Band")]):
        songs = []
        for n in range(3):
            file = make_song(root / f"{a}-{n}.mp3", 10.0, tone=150.0 + 40 * (3 * a + n))
            isrc = ["GBAYE0601690"] if (a, n) == (1, 0) else []
            songs.append(Track(f"tr-{a}{n}", f"Track {a}{n}", artist, name, 10, file, isrc))
        made.append(Album(f"al-{a}", name, artist, songs))
    return made


@pytest.fixture()
def data(catalog_copy: Path) -> Path:
    return catalog_copy


@pytest.fixture()
def env(fake_vggish: Path, pca_params: Path) -> dict[str, str]:
    return add_env(fake_vggish, pca_params, SUBSONIC_USER="earshot", SUBSONIC_PASSWORD=PASSWORD)


def _songs(data: Path) -> list[tuple]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        songs = db.execute(
            "SELECT source, origin, artist, title, album, isrc FROM songs ORDER BY title"
        ).fetchall()
        keys = db.execute("SELECT song_key FROM songs").fetchall()
        tracks = db.execute("SELECT video_id FROM tracks WHERE source = 'song'").fetchall()
    assert sorted(keys) == sorted(tracks)  # no song without its frames, nor frames alone
    return songs


def _server(albums: list[Album], port: int = 0) -> SubsonicServer:
    server = SubsonicServer(password=PASSWORD, port=port)
    for album in albums:
        server.add_album(album)
    server.add_playlist("pl-1", "Friday Night", ["tr-02", "tr-10"])
    return server


def test_a_servers_whole_library_is_added_signed_in_with_a_salted_token(
    data: Path, env: dict[str, str], albums: list[Album]
) -> None:
    with _server(albums) as server:
        result = run_cli(data, "add", server.url + "/", **env)
        again = run_cli(data, "add", server.url, **env).stdout
    assert "6 songs found, 6 added, 0 already there, 0 refused" in result.stdout, result.stdout
    assert "6 songs found, 0 added, 6 already there" in again
    songs = _songs(data)
    assert len(songs) == 6 and {s[0] for s in songs} == {"subsonic"}
    assert songs[0] == ("subsonic", f"{server.url}#tr-00", "John C", "Track 00", "Blue Train", "")
    assert songs[3][3] == "Track 10" and songs[3][5] == "GBAYE0601690"
    assert server.calls.count("ping") == 2 and server.calls.count("stream") == 6  # once each
    assert sorted(set(server.streamed)) == [f"tr-{a}{n}" for a in (0, 1) for n in range(3)]
    # The password is sent only as a salted token: never as itself, never shown or kept.
    assert all("t=" in q and "s=" in q and "p=" not in q.split("&") for q in server.queries)
    assert PASSWORD.replace(" ", "+") not in " ".join(server.queries)
    assert PASSWORD not in result.stdout + result.stderr
    for file in data.rglob("*"):
        if file.is_file():
            assert PASSWORD.encode() not in file.read_bytes(), file


def test_one_playlist_or_one_album_by_name(
    data: Path, env: dict[str, str], albums: list[Album]
) -> None:
    with _server(albums) as server:
        listed = run_cli(data, "add", server.url, "--playlist", "friday night", **env).stdout
        assert "2 songs found, 2 added" in listed
        assert [s[3] for s in _songs(data)] == ["Track 02", "Track 10"]
        album = run_cli(data, "add", server.url, "--album", "Abbey Lane", **env).stdout
        assert "3 songs found, 2 added, 1 already there" in album
        missing = run_cli(data, "add", server.url, "--playlist", "Sunday", check=False, **env)
    assert missing.returncode == 1
    assert "has no playlist 'Sunday' (it has: Friday Night)" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_wrong_password_is_said_and_nothing_is_added(
    data: Path, env: dict[str, str], albums: list[Album]
) -> None:
    with _server(albums) as server:
        wrong = run_cli(data, "add", server.url, check=False, **{**env, "SUBSONIC_PASSWORD": "no"})
        nobody = run_cli(data, "add", server.url, check=False, **{**env, "SUBSONIC_USER": ""})
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "wrong user or password: check SUBSONIC_USER and SUBSONIC_PASSWORD" in wrong.stderr
    assert nobody.returncode == 1 and "set SUBSONIC_USER and SUBSONIC_PASSWORD" in nobody.stderr
    assert server.streamed == [] and _songs(data) == []
    site = run_cli(data, "add", "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M",
                   check=False, **env)  # fmt: skip
    assert site.returncode == 1 and "cannot list the songs of that link" in site.stderr


def test_a_server_that_goes_away_mid_run_stops_it_in_words_and_the_next_run_goes_on(
    data: Path, env: dict[str, str], albums: list[Album]
) -> None:
    with _server(albums) as server:
        port = int(server.url.rsplit(":", 1)[1])
        server.stop_after = 8  # ping, ping, the album list, an album, a few songs
        stopped = run_cli(data, "add", server.url, check=False, **env)
    assert stopped.returncode == 1, stopped.stdout
    assert f"the Subsonic server at {server.url} did not answer" in stopped.stderr
    assert "run the same command again to go on" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    kept = len(_songs(data))
    assert kept < 6
    with _server(albums, port=port) as back:
        resumed = run_cli(data, "add", back.url, **env).stdout
    assert f"6 songs found, {6 - kept} added, {kept} already there" in resumed
    assert len(_songs(data)) == 6
