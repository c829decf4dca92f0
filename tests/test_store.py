from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from recommender.audioset.tfrecord import ClipRecord
from recommender.catalog.store import SCHEMA_VERSION, Store, StoreError
from recommender.ratings import Reply


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Each test of the store on both backends: a SQLite file, and a fresh PostgreSQL
    database on the real server."""
    if request.param == "sqlite":
        return tmp_path / "db.sqlite3"
    return request.getfixturevalue("postgres_url")


def _clips(n: int, prefix: str = "v") -> list[ClipRecord]:
    rng = np.random.default_rng(0)
    return [
        ClipRecord(
            f"{prefix}{i:010d}"[-11:],
            30.0,
            40.0,
            (137, 140),
            rng.integers(0, 256, (10, 128), dtype=np.uint8),
        )
        for i in range(n)
    ]


async def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")  # PostgreSQL: see test_postgres.py
    try:
        assert await store.schema_version() == SCHEMA_VERSION
        (mode,) = await store._one("PRAGMA journal_mode")
        assert mode == "wal"
    finally:
        await store.close()


async def test_a_new_database_is_readable_by_this_user_alone(tmp_path: Path) -> None:
    """It holds member ids and their ratings: 0600, in a 0700 folder when earshot makes it
    (SQLite gives its -wal and -shm files the database's mode)."""
    folder = tmp_path / "data"
    store = await Store.open(folder / "db.sqlite3")
    try:
        await store.add_file("bal_train/a.tfrecord", 1, _clips(2), "bal_train", 0)
    finally:
        await store.close()
    assert folder.stat().st_mode & 0o777 == 0o700
    made = [p for p in folder.iterdir() if p.name.startswith("db.sqlite3")]
    assert made and all(p.stat().st_mode & 0o777 == 0o600 for p in made), made


async def test_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError, match="newer than this earshot understands"):
        await Store.open(path)


async def test_add_file_is_idempotent_and_atomic(database: Path | str) -> None:
    store = await Store.open(database)
    try:
        clips = _clips(20)
        assert await store.add_file("bal_train/a.tfrecord", 123, clips, "bal_train", 3) == 20
        assert await store.add_file("bal_train/a.tfrecord", 123, clips, "bal_train", 3) == 0
        assert await store.count_tracks() == 20
        assert await store.ingested_size("bal_train/a.tfrecord") == 123
        # A failing batch leaves neither its clips nor its file marker behind.
        bad = [*_clips(5, "w"), ClipRecord("x" * 11, 0.0, 1.0, (), None)]  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await store.add_file("bal_train/b.tfrecord", 9, bad, "bal_train", 0)
        assert await store.count_tracks() == 20
        assert await store.ingested_size("bal_train/b.tfrecord") is None
        tracks = await store.tracks_by_video(clips[3].video_id)
        assert len(tracks) == 1 and np.array_equal(tracks[0].frames, clips[3].frames)
        assert tracks[0].labels == (137, 140)
        chunks = [chunk async for chunk in store.iter_tracks(chunk=7)]
        assert [len(c) for c in chunks] == [7, 7, 6]
    finally:
        await store.close()


async def test_embedding_cache_is_keyed_by_model(database: Path | str) -> None:
    store = await Store.open(database)
    try:
        frames = np.ones((31, 128), dtype=np.uint8)
        await store.cache_song("abcdefghijk", "m1", frames, "Song", "Band", 30.5, join_catalog=True)
        assert await store.cached_embedding("abcdefghijk", "m2") is None
        cached = await store.cached_embedding("abcdefghijk", "m1")
        assert cached is not None
        assert np.array_equal(cached[0], frames) and cached[1]["title"] == "Song"
        assert await store.count_tracks("member") == 1
    finally:
        await store.close()


async def test_concurrent_writes_on_one_connection_all_land(database: Path | str) -> None:
    import asyncio

    store = await Store.open(database)
    try:
        clips = _clips(5)
        await store.add_file("bal_train/a.tfrecord", 1, clips, "bal_train", 0)
        tracks = [
            (t.id, t.video_id) for c in clips for t in await store.tracks_by_video(c.video_id)
        ]
        await store.record_reply(Reply(77, 1, 2, 3, "query", tuple(tracks)))
        reactions = ["1", "2", "down", "3", "5"]
        results = await asyncio.gather(*(store.set_reaction(42, 77, r, True) for r in reactions))
        assert all(results)
        rated = dict(await store._all("SELECT position, value FROM ratings WHERE user_id = 42"))
        assert rated == {1: 1, 2: 1, 3: 1, 4: -1, 5: 1}
    finally:
        await store.close()


async def test_community_signal_and_forgetting_a_member(database: Path | str) -> None:
    store = await Store.open(database)
    try:
        clips = _clips(6)
        await store.add_file("bal_train/a.tfrecord", 1, clips, "bal_train", 0)
        tracks = [
            (t.id, t.video_id) for c in clips for t in await store.tracks_by_video(c.video_id)
        ]
        ids = [t for t, _ in tracks]
        await store.record_reply(Reply(1, 500, 9, 1, "q", tuple(tracks)))  # a reply in server 500
        await store.record_reply(Reply(2, 600, 9, 1, "q", tuple(tracks)))  # and one in server 600
        # In server 500: members 11 and 12 dislike everything but #1; 11 also likes #1.
        for user in (11, 12):
            await store.set_reaction(user, 1, "down", True)
        await store.set_reaction(11, 1, "1", True)
        await store.set_reaction(13, 2, "down", True)  # another server: does not count here
        # Member 20 likes #1 and #2 in server 600; member 11 liked #1 too (co-like of #2).
        await store.set_reaction(20, 2, "1", True)
        await store.set_reaction(20, 2, "2", True)
        community = await store.community(500, 99, ids, liked=[ids[0]])
        assert community.dislikes == {t: 2 for t in ids[2:]} | {ids[0]: 1, ids[1]: 2}
        assert community.likes == {ids[0]: 1}
        assert community.co_likes == {ids[0]: 2, ids[1]: 1}  # 20 liked #2 along with #1
        mine = await store.community(500, 11, ids, liked=[])
        assert mine.dislikes.get(ids[2]) == 1  # a member's own ratings are not "others"
        assert await store.forget_member(11) == 6
        assert await store.ratings_of(11) == []
        assert await store._all("SELECT * FROM reactions WHERE user_id = 11") == []
    finally:
        await store.close()
