"""`python -m recommender add`: the songs a server chose, from a folder, heard as a
member's songs are, stored once each, resumable, one run at a time; then suggested as
"artist — title" with a link that plays (or a search that says so)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recommender.catalog.store import Store
from recommender.index.layout import Hit
from recommender.listening.adding import _one_add_at_a_time
from recommender.ranking.pipeline import Ranked
from recommender.ranking.songs_first import SONGS_FIRST_MARGIN, songs_first
from recommender.ratings import MemberRatings, Reply
from recommender.song_facts import Song, SongFound, isrc_or_empty, library_key, name_key
from recommender.sources.folder import audio_files, from_file_name, read_song
from scripts.standins.cli import ROOT, cli_env, run_cli, run_json
from scripts.standins.media import make_song
from scripts.standins.youtube_search import Result, YouTubeSearch
from tests.conftest import add_env


@pytest.fixture()
def data(catalog_copy: Path) -> Path:
    return catalog_copy


@pytest.fixture()
def env(fake_vggish: Path, pca_params: Path) -> dict[str, str]:
    return add_env(fake_vggish, pca_params)


def _tags(artist: str, title: str, album: str = "", isrc: str = "") -> dict[str, str]:
    tags = {"artist": artist, "title": title}
    if album:
        tags["album"] = album
    if isrc:
        tags["ISRC"] = isrc
    return tags


def make_library(root: Path) -> Path:
    """Six songs in five formats (one named only by its file), two duplicates, three files
    that cannot be songs, and two that are not audio files at all."""
    album = root / "Artist A" / "Album X"
    album.mkdir(parents=True)
    one = _tags("Artist A", "Song One", "Album X", "US-AAA-20-00001")
    make_song(album / "01 - Song One.mp3", 12.0, tone=220.0, tags=one)
    make_song(root / "two.flac", 12.0, tone=262.0, tags=_tags("Artist B", "Song Two", "B-Sides"))
    make_song(root / "three.ogg", 12.0, tone=294.0, tags=_tags("Artist C", "Song Three"))
    make_song(root / "four.m4a", 12.0, tone=330.0, tags=_tags("Artist D", "Song Four", "Four"))
    make_song(root / "five.opus", 12.0, tone=349.0, tags=_tags("Artist E", "Song Five"))
    make_song(root / "Untagged Artist - Untagged Song.wav", 12.0, tone=392.0)
    # The same recording twice: a copy elsewhere (same ISRC), and a re-rip named alike.
    (root / "copies").mkdir()
    shutil.copy(album / "01 - Song One.mp3", root / "copies" / "song one (copy).mp3")
    again = _tags("artist b", "Song Two!")
    make_song(root / "copies" / "two again.ogg", 13.0, tone=262.0, tags=again)
    # Not songs: a cut-off file, a text file named like audio, digital silence.
    whole = make_song(root / "whole.mp3", 12.0, tone=440.0)
    (root / "cut off.mp3").write_bytes(whole.read_bytes()[:2000])
    whole.unlink()
    (root / "notes.flac").write_text("these are liner notes, not audio\n" * 50)
    make_song(root / "silence.wav", 12.0, silent=True)
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a picture")
    (root / "readme.txt").write_text("my music")
    return root


def _rows(data: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute(sql).fetchall()


def _whole_songs(data: Path) -> list[tuple]:
    """Every song with its track, checking that neither exists without the other."""
    songs = _rows(data, "SELECT song_key, artist, title, album FROM songs ORDER BY title")
    tracks = _rows(data, "SELECT video_id, length(frames) FROM tracks WHERE source = 'song'")
    assert sorted(k for k, *_ in songs) == sorted(k for k, _ in tracks)
    assert all(size > 0 and size % 128 == 0 for _, size in tracks)
    return songs


def test_a_folder_is_added_once_with_its_tags_and_what_is_not_a_song_is_refused_by_name(
    data: Path, env: dict[str, str], tmp_path: Path
) -> None:
    library = make_library(tmp_path / "music")
    first = run_cli(data, "add", str(library), **env)
    summary = first.stdout
    assert "11 songs found, 6 added, 2 already there, 3 refused" in summary, summary
    assert "not audio ffmpeg can read" in summary and "notes.flac" in summary
    assert "silent" in summary and "silence.wav" in summary
    assert "cut off.mp3" in summary
    assert "cover.jpg" not in summary and "readme.txt" not in summary
    assert "next: python -m recommender reindex" in summary
    assert "links: 0 videos found, 6 songs with none" in summary  # the stand-in knows none
    songs = _whole_songs(data)
    assert [(a, t, al) for _, a, t, al in songs] == [
        ("Artist E", "Song Five", ""),
        ("Artist D", "Song Four", "Four"),
        ("Artist A", "Song One", "Album X"),
        ("Artist C", "Song Three", ""),
        ("Artist B", "Song Two", "B-Sides"),
        ("Untagged Artist", "Untagged Song", ""),
    ]
    isrc = _rows(data, "SELECT isrc FROM songs WHERE title = 'Song One'")
    assert isrc == [("USAAA2000001",)]
    stats = run_json(data, "stats")
    assert stats["songs"] == {"folder": 6} and stats["songs_without_video"] == 6
    assert "6 songs (6 from folders; 6 with no video to link to)" in run_cli(data, "stats").stdout

    again = run_cli(data, "add", str(library), **env).stdout
    assert "11 songs found, 0 added, 8 already there, 3 refused" in again, again
    assert "next: python -m recommender reindex" not in again
    assert _whole_songs(data) == songs


def test_added_songs_are_suggested_first_after_a_reindex_as_artist_and_title(
    data: Path, env: dict[str, str], tmp_path: Path, youtube_search: YouTubeSearch
) -> None:
    library = tmp_path / "music"
    library.mkdir()
    for n, tone in enumerate((196.0, 247.0, 311.0), 1):
        tags = _tags(f"Band {n}", f"Tune {n}", f"Record {n}")
        make_song(library / f"{n}.flac", 15.0, tone=tone, tags=tags)
    youtube_search.add("Band 1 Tune 1", songs=[Result("BandOneTun1", "Tune 1", "Band 1", 15)])
    added = run_cli(data, "add", str(library), **env).stdout
    assert "links: 1 videos found, 2 songs with none" in added
    assert "1 with no video" not in added and "2 with no video to link to" in added
    run_cli(data, "reindex", **env)

    def ask(mode: str) -> list[dict]:
        asked = ["recommend", "--file", str(library / "2.flac"), "--count", "8"]
        return run_json(data, *asked, SUGGEST_FROM=mode, **env)["items"]

    own = ask("songs-only")  # (synthetic songs that sound near-identical are shown once)
    titles = {i["title"] for i in own}
    assert len(titles) == len(own) and titles <= {f"Band {n} — Tune {n}" for n in (1, 2, 3)}
    for item in own:
        n = item["title"][5]
        assert item["song"] is True and item["video_id"].startswith("song:")
        assert item["channel"] == f"Record {n}"
        if n == "1":  # the video found for it
            assert item["url"] == "https://www.youtube.com/watch?v=BandOneTun1"
            assert item["link_note"] == ""
        else:
            assert item["url"] == f"https://music.youtube.com/search?q=Band+{n}+Tune+{n}"
            assert item["link_note"] == "no video found: a YouTube Music search"
    first = ask("songs-first")
    assert len(first) == 8 and sum(i["song"] for i in first) == len(own)  # clips fill in
    for place, item in enumerate(first):  # a clip goes before a song only by the margin
        later_songs = [i["score"] for i in first[place:] if i["song"]]
        if not item["song"] and later_songs:
            assert item["score"] > max(later_songs) + SONGS_FIRST_MARGIN - 1e-3
    assert all(i["url"].startswith("https://www.youtube.com/watch?v=") for i in first[3:]
               if not i["song"])  # fmt: skip
    everything = ask("everything")
    assert len(everything) == 8
    scores = [i["score"] for i in everything]
    assert scores == sorted(scores, reverse=True)


def test_a_stopped_add_keeps_every_song_whole_and_the_next_run_goes_on(
    data: Path, env: dict[str, str], tmp_path: Path
) -> None:
    library = tmp_path / "music"
    library.mkdir()
    for n in range(10):
        make_song(library / f"Artist {n} - Song {n}.ogg", 10.0, tone=180.0 + 23 * n)
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "add", str(library)],
        cwd=ROOT,
        env=cli_env(data, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300  # guards a hang; two songs take seconds
        while time.monotonic() < deadline and process.poll() is None:
            if len(_rows(data, "SELECT song_key FROM songs")) >= 2:
                break
            time.sleep(0.1)
        assert process.poll() is None, "the add ended before it could be stopped"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    kept = _whole_songs(data)
    assert 2 <= len(kept) < 10
    resumed = run_cli(data, "add", str(library), **env).stdout
    assert f"10 songs found, {10 - len(kept)} added, {len(kept)} already there" in resumed
    assert len(_whole_songs(data)) == 10


def test_a_second_add_at_once_is_refused_naming_the_first(
    data: Path, env: dict[str, str], tmp_path: Path
) -> None:
    library = tmp_path / "music"
    library.mkdir()
    make_song(library / "a.mp3", 5.0)
    with _one_add_at_a_time(data):
        second = run_cli(data, "add", str(library), check=False, **env)
    assert second.returncode == 1
    assert f"Another add is filling the catalog right now (process {os.getpid()})" in second.stderr
    assert "Traceback" not in second.stderr
    assert _rows(data, "SELECT COUNT(*) FROM songs") == [(0,)]
    missing = run_cli(data, "add", str(tmp_path / "nowhere"), check=False, **env)
    assert missing.returncode == 1 and "is not a folder earshot can read" in missing.stderr


# --- reading a folder, and when two names are one recording --------------------------


def test_a_folder_is_walked_once_per_file_and_never_out_through_a_link(tmp_path: Path) -> None:
    root = tmp_path / "music"
    (root / "b").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for path in (root / "b" / "2.MP3", root / "1.flac", outside / "x.mp3", root / "._1.flac"):
        path.write_bytes(b"x")
    (root / "same.flac").symlink_to(root / "1.flac")
    (root / "out.mp3").symlink_to(outside / "x.mp3")
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert [p.relative_to(root).as_posix() for p in audio_files(root)] == ["1.flac", "b/2.MP3"]


def test_a_song_is_named_by_its_tags_else_by_its_file_name(tmp_path: Path) -> None:
    assert from_file_name(Path("03 - Daft Punk - One More Time.mp3")) == (
        "Daft Punk",
        "One More Time",
    )
    assert from_file_name(Path("Daft_Punk_-_Aerodynamic.flac")) == ("Daft Punk", "Aerodynamic")
    assert from_file_name(Path("untitled track.wav")) == ("", "untitled track")
    junk = tmp_path / "Someone - Something.mp3"
    junk.write_bytes(os.urandom(5000))
    found = read_song(junk)
    assert (found.artist, found.title, found.duration_s) == ("Someone", "Something", None)
    loud = "x" * 5000
    tagged = make_song(tmp_path / "t.flac", 2.0, tags={"artist": loud, "title": "Short"})
    assert len(read_song(tagged).artist) == 300


def test_one_recording_named_twice_is_one_song() -> None:
    assert isrc_or_empty("us-rc1-76-07839") == "USRC17607839"
    assert isrc_or_empty("not an isrc") == isrc_or_empty("") == ""
    assert name_key("Beyoncé", "Halo!") == name_key("beyonce ", "halo") != name_key("Beyoncé", "")
    assert name_key("Simon & Garfunkel", "Cecilia") == name_key("simon and garfunkel", "cecilia")
    stored = Song("song:1", "folder", "/a", "Artist", "Title", "", 200.0, "")
    assert stored.same_recording(SongFound("/b", "artist", "title"), 201.5)
    assert not stored.same_recording(SongFound("/b", "artist", "title"), 203.0)  # another cut
    assert stored.same_recording(SongFound("/b", "artist", "title"), None)
    coded = Song("song:2", "folder", "/c", "Artist", "Title", "", 200.0, "USRC17607839")
    assert not coded.same_recording(SongFound("/d", "Artist", "Title", isrc="GBAYE0000351"), 200)
    assert coded.same_recording(SongFound("/d", "Other", "Name", isrc="USRC17607839"), 90.0)
    assert library_key("folder", "/a") == library_key("folder", "/a") != library_key("folder", "/b")


def test_songs_first_lets_a_clip_ahead_only_by_the_margin_and_clips_fill_in() -> None:
    def ranked(track: int, score: float) -> Ranked:
        return Ranked(Hit(track, score, track), score, ())

    songs = {1, 2, 3}
    own = [ranked(1, 3.0), ranked(2, 2.0), ranked(3, 0.5)]
    everything = [ranked(10, 4.5), ranked(11, 3.9), ranked(1, 3.0), ranked(12, 2.2)]
    order = songs_first(own, everything, songs.__contains__, 6, margin=1.0)
    # 10 beats song 1 by 1.5 (> 1): ahead; 11 beats it by 0.9 only: after songs 1 and 2,
    # ahead of song 3 (by 3.4); 12 beats song 2 by 0.2: behind it; song 1 is there once.
    assert [r.hit.track_id for r in order] == [10, 1, 11, 2, 12, 3]
    assert [r.hit.track_id for r in songs_first(own, everything, songs.__contains__, 2)] == [10, 1]
    assert [r.hit.track_id for r in songs_first([], everything, songs.__contains__, 2)] == [10, 11]


async def test_a_members_rating_of_a_song_is_kept_and_steers_like_any_other(tmp_path: Path) -> None:
    """A song is rated by its reaction like a clip: the rating names the song's track and
    key, the member's ratings carry it, and forgetting the member forgets it."""
    store = await Store.open(tmp_path / "earshot.sqlite3")
    try:
        found = SongFound("/m/a.flac", "Juno Park", "Paper Boats", "", 205.0)
        key = library_key("folder", found.origin)
        await store.add_song(key, "folder", found, np.full((4, 128), 7, np.uint8), 205.0)
        (track,) = await store.tracks_by_video(key)
        assert track.source == "song" and track.labels == ()
        await store.record_reply(Reply(1001, 5, 6, 42, "asked1234ab", ((track.id, key),)))
        assert await store.set_reaction(42, 1001, "1", True)
        assert await store.ratings_of(42) == [(track.id, key, 1)]
        assert MemberRatings.from_rows(await store.ratings_of(42)).liked() == [track.id]
        await store.forget_member(42)
        assert await store.ratings_of(42) == []
    finally:
        await store.close()


def test_a_disk_that_fills_mid_run_stops_it_in_words_and_loses_no_song(
    built_catalog: Path, env: dict[str, str], tmp_path: Path, small_disk
) -> None:
    library = tmp_path / "music"
    library.mkdir()
    for n in range(8):
        make_song(library / f"Artist {n} - Song {n}.ogg", 10.0, tone=170.0 + 29 * n)
    size = sum(p.stat().st_size for p in built_catalog.rglob("*") if p.is_file())
    disk = small_disk(size + 8 * 1024 * 1024)
    data = disk.path / "data"
    shutil.copytree(built_catalog, data)
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "add", str(library), "--no-links"],
        cwd=ROOT,
        env=cli_env(data, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300  # guards a hang; a song takes a second or two
    while time.monotonic() < deadline and process.poll() is None:
        if len(_rows(data, "SELECT song_key FROM songs")) >= 1:
            break
        time.sleep(0.05)
    disk.fill()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 1, out + err
    assert "stopped early: There is no disk space left: the disk holding" in err, err
    assert "run the same command again to go on" in err and "Traceback" not in err
    kept = _whole_songs(data)
    assert 1 <= len(kept) < 8
    disk.free()
    resumed = run_cli(data, "add", str(library), "--no-links", **env).stdout
    assert f"8 songs found, {8 - len(kept)} added, {len(kept)} already there" in resumed
    assert len(_whole_songs(data)) == 8
