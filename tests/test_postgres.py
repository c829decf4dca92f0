"""PostgreSQL as the shared database (DATABASE_URL), on a real server: migrations, Discord
snowflakes, two stores on one database, the rebuild child reading it, and moving a
SQLite deployment over with migrate-to-postgres."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from recommender.audioset.tfrecord import ClipRecord
from recommender.catalog import db
from recommender.catalog.migrate import verify
from recommender.catalog.schema import TABLES
from recommender.catalog.store import SCHEMA_VERSION, Store, StoreError
from recommender.errors import DatabaseUnavailableError
from recommender.ratings import Reply
from recommender.song_facts import SongFound, library_key
from recommender.video_facts import Status, VideoFacts
from scripts.standins.cli import run_cli, run_json

SNOWFLAKE = 1_234_567_890_123_456_789  # past 2**60, as Discord ids are


def _clips(n: int, prefix: str) -> list[ClipRecord]:
    rng = np.random.default_rng(1)
    return [
        ClipRecord(
            f"{prefix}{i:010d}"[-11:],
            10.0 * i + 0.1,
            10.0 * i + 10.1,
            (137, 140 + i % 3),
            rng.integers(0, 256, (10, 128), dtype=np.uint8),
        )
        for i in range(n)
    ]


async def _sql(url: str, statement: str, *args: object) -> list:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


async def test_migrations_version_in_a_table_once_and_refuse_a_newer_one(
    postgres_url: str,
) -> None:
    # Two processes starting at once on an empty database: one migrates, one waits.
    first, second = await asyncio.gather(Store.open(postgres_url), Store.open(postgres_url))
    try:
        assert await first.schema_version() == await second.schema_version() == SCHEMA_VERSION
        assert await first.add_file("bal_train/a.tfrecord", 1, _clips(3, "m"), "bal_train", 0) == 3
    finally:
        await first.close()
        await second.close()
    assert [tuple(r) for r in await _sql(postgres_url, "SELECT version FROM earshot_schema")] == [
        (SCHEMA_VERSION,)
    ]
    types = dict(
        tuple(r)
        for r in await _sql(
            postgres_url,
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public'",
        )
    )
    assert types["replies.message_id"] == types["ratings.user_id"] == "bigint"
    assert types["tracks.frames"] == "bytea" and types["tracks.start_s"] == "double precision"

    again = await Store.open(postgres_url)  # nothing to do, nothing lost
    try:
        assert await again.schema_version() == SCHEMA_VERSION
        assert await again.count_tracks() == 3
    finally:
        await again.close()

    await _sql(postgres_url, "UPDATE earshot_schema SET version = $1", SCHEMA_VERSION + 5)
    with pytest.raises(StoreError, match="newer than this earshot understands") as caught:
        await Store.open(postgres_url)
    assert "earshot:***@" in str(caught.value)  # the address, never the password


async def test_discord_snowflakes_round_trip(postgres_url: str) -> None:
    store = await Store.open(postgres_url)
    try:
        await store.add_file("bal_train/a.tfrecord", 1, _clips(4, "s"), "bal_train", 0)
        tracks = [(t.id, t.video_id) async for chunk in store.iter_tracks() for t in chunk]
        message, guild, channel = SNOWFLAKE, SNOWFLAKE + 1, SNOWFLAKE + 2
        member, other = SNOWFLAKE + 3, SNOWFLAKE + 4
        await store.record_reply(Reply(message, guild, channel, member, "q", tuple(tracks)))
        assert await store.set_reaction(member, message, "1", True)
        assert await store.set_reaction(other, message, "down", True)
        assert await store.recent_replies(0) == [(message, channel, guild)]
        assert await store.ratings_of(member) == [(tracks[0][0], tracks[0][1], 1)]
        ids = [t for t, _ in tracks]
        community = await store.community(guild, member, ids, liked=[])
        assert community.dislikes == {t: 1 for t in ids}
        assert len(await store.replace_reactions(message, {member: {"2"}})) == 2
        assert await store.ratings_of(member) == [(tracks[1][0], tracks[1][1], 1)]
        assert await store.forget_member(member) == 1
    finally:
        await store.close()


async def test_two_stores_share_one_database(postgres_url: str) -> None:
    """Two processes' stores (shards, workers): what one writes, the other reads, and
    reactions from both at once on one reply all count."""
    a, b = await Store.open(postgres_url), await Store.open(postgres_url)
    try:
        await a.add_file("bal_train/a.tfrecord", 1, _clips(5, "t"), "bal_train", 0)
        tracks = [(t.id, t.video_id) async for chunk in b.iter_tracks() for t in chunk]
        await a.record_reply(Reply(SNOWFLAKE, 7, 8, 9, "q", tuple(tracks)))
        await asyncio.gather(
            *(
                store.set_reaction(SNOWFLAKE + 1, SNOWFLAKE, reaction, True)
                for store, reaction in zip(
                    [a, b, a, b, a], ["1", "2", "down", "3", "5"], strict=True
                )
            )
        )
        expected = sorted(
            [
                (tracks[p - 1][0], tracks[p - 1][1], v)
                for p, v in [(1, 1), (2, 1), (3, 1), (4, -1), (5, 1)]
            ]
        )
        assert sorted(await a.ratings_of(SNOWFLAKE + 1)) == expected
        assert sorted(await b.ratings_of(SNOWFLAKE + 1)) == expected
        frames = np.ones((12, 128), dtype=np.uint8)
        await b.cache_song("abcdefghijk", "m1", frames, "Song", "Band", None, join_catalog=True)
        cached = await a.cached_embedding("abcdefghijk", "m1")
        assert cached is not None and np.array_equal(cached[0], frames)
        assert cached[1] == {"title": "Song", "channel": "Band", "duration_s": None, "heard": ""}
        assert await a.count_tracks("member") == 1
    finally:
        await a.close()
        await b.close()


async def _fill_sqlite(data: Path) -> None:
    """A small deployment with a row in every table (NULLs, snowflakes and exact floats)."""
    store = await Store.open(data / "earshot.sqlite3")
    try:
        await store.add_file("bal_train/a.tfrecord", 1000, _clips(30, "a"), "bal_train", 4)
        await store.add_file("eval/b.tfrecord", 2000, _clips(12, "b"), "eval", 1, ["bad crc"])
        await store.cache_song(
            "memberSong1",
            "vggish-1",
            np.full((7, 128), 3, np.uint8),
            "Tïtle ✓",
            "Chan",
            None,
            join_catalog=True,
        )
        for n, found in enumerate(
            [SongFound("/music/a.flac", "Ártist", "Sông", "Albüm", 201.5, "USRC17607839"),
             SongFound("/music/b.mp3", "", "b", "", None, "")]
        ):  # fmt: skip
            key = library_key("folder", found.origin)
            await store.add_song(key, "folder", found, np.full((5, 128), 9 + n, np.uint8), 200.0)
        tracks = [(t.id, t.video_id) async for chunk in store.iter_tracks() for t in chunk]
        await store.record_reply(Reply(SNOWFLAKE, SNOWFLAKE + 1, 5, 6, "q", tuple(tracks[:10])))
        await store.record_reply(Reply(SNOWFLAKE + 9, None, 5, 6, "q", tuple(tracks[10:15])))
        for user, reaction in [(11, "1"), (11, "3"), (12, "down"), (SNOWFLAKE + 2, "2")]:
            await store.set_reaction(user, SNOWFLAKE, reaction, True)
        await store.set_reaction(13, SNOWFLAKE + 9, "4", True)
        await store.save_facts(
            [
                VideoFacts(tracks[0][1], Status.LIVE, "A song", "Someone", 1_700_000_000.123456),
                VideoFacts(tracks[1][1], Status.GONE, "", "", 1_700_000_001.5),
            ]
        )
    finally:
        await store.close()
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        db.executemany(
            "INSERT INTO classes (idx, mid, name, kind) VALUES (?, ?, ?, ?)",
            [(137, "/m/a", "Music", "other"), (140, "/m/b", "Rock", "genre")],
        )


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrate_to_postgres_copies_verifies_and_refuses_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_fill_sqlite(data))
    sqlite_file = data / "earshot.sqlite3"
    before = _file_sha(sqlite_file)

    result = run_cli(data, "migrate-to-postgres", "--to", postgres_url)
    lines = result.stdout.splitlines()
    assert lines[-1].startswith(f"verified: {len(TABLES)} tables,"), result.stdout
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {
        "tracks", "ingested_files", "classes", "embeddings", "replies", "reply_items",
        "reactions", "ratings", "video_facts", "forgotten", "songs",
    }  # fmt: skip
    for table, (_, source_rows, target_rows, source_sha, target_sha, verdict) in rows.items():
        assert source_rows == target_rows and source_sha == target_sha, table
        assert verdict == "ok"
    assert rows["tracks"][1] == "45" and rows["ratings"][1] == "14" and rows["classes"][1] == "2"
    assert rows["songs"][1] == "2"
    assert _file_sha(sqlite_file) == before  # only read

    # The same data through the store on either side; new tracks continue after the ids.
    async def same_on_both() -> None:
        old, new = await Store.open(sqlite_file), await Store.open(postgres_url)
        try:
            for method, args in [
                ("ratings_of", (11,)),
                ("ratings_of", (SNOWFLAKE + 2,)),
                ("recent_replies", (0,)),
                ("ingest_summary", ()),
                ("class_kinds", ()),
                ("class_parents", ()),
                ("verification_counts", ()),
                ("count_tracks", ("member",)),
                ("song_counts", ()),
                ("song_origins", ("folder",)),
            ]:
                assert await getattr(new, method)(*args) == await getattr(old, method)(*args)
            ids = list(range(1, 46))
            assert (await new.tracks_by_ids(ids)).keys() == (await old.tracks_by_ids(ids)).keys()
            keys = [library_key("folder", "/music/a.flac"), "song:0000000000000000"]
            assert await new.songs_of(keys) == await old.songs_of(keys) != {}
            await new.add_member_track("anotherSong", np.zeros((3, 128), np.uint8), 3.0)
            (added,) = await new.tracks_by_video("anotherSong")
            assert added.id == 46
        finally:
            await old.close()
            await new.close()

    asyncio.run(same_on_both())

    refused = run_cli(data, "migrate-to-postgres", check=False, DATABASE_URL=postgres_url)
    assert refused.returncode == 2, refused.stderr
    assert "already holds earshot data" in refused.stderr and "--replace" in refused.stderr

    replaced = run_cli(data, "migrate-to-postgres", "--replace", DATABASE_URL=postgres_url)
    assert f"verified: {len(TABLES)} tables" in replaced.stdout

    # A row altered in PostgreSQL afterwards: verify names the table.
    asyncio.run(
        _sql(postgres_url, "UPDATE ratings SET created_at = created_at + 1e-6 WHERE user_id = 11")
    )
    checks = {c.table: c for c in asyncio.run(verify(sqlite_file, postgres_url))}
    assert not checks["ratings"].ok and checks["ratings"].source_rows == 14
    assert all(c.ok for t, c in checks.items() if t != "ratings")
    differs = run_cli(
        data, "migrate-to-postgres", "--verify", check=False, DATABASE_URL=postgres_url
    )
    assert differs.returncode == 1
    assert "ratings differ" in differs.stderr
    assert "DIFFERS" in next(
        line for line in differs.stdout.splitlines() if line.startswith("ratings")
    )


def test_a_copy_that_fails_midway_leaves_postgres_empty(tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(_fill_sqlite(data))
    with sqlite3.connect(data / "earshot.sqlite3") as db:  # SQLite takes it; PostgreSQL won't
        db.execute("UPDATE video_facts SET checked_at = 'yesterday' WHERE status = 'gone'")
    before = _file_sha(data / "earshot.sqlite3")
    failed = run_cli(data, "migrate-to-postgres", "--to", postgres_url, check=False)
    assert failed.returncode != 0
    tables = asyncio.run(
        _sql(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    )
    assert tables == []  # tracks and the rest were copied, then rolled back with the rest
    assert _file_sha(data / "earshot.sqlite3") == before


@pytest.mark.slow
def test_reindex_and_recommend_from_postgres(
    built_catalog: Path, tmp_path: Path, postgres_url: str
) -> None:
    """The whole deployment on PostgreSQL: migrated, the rebuild child reads the catalog
    from it, and the CLI recommends from it."""
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    run_cli(data, "migrate-to-postgres", DATABASE_URL=postgres_url)
    (data / "earshot.sqlite3").rename(data / "moved-away.sqlite3")  # only PostgreSQL left
    run_cli(data, "reindex", DATABASE_URL=postgres_url)
    stats = run_json(data, "stats", DATABASE_URL=postgres_url)
    assert stats["indexed"] == stats["tracks"] > 500
    assert not (data / "earshot.sqlite3").exists()
    video = asyncio.run(
        _sql(
            postgres_url,
            "SELECT video_id FROM tracks WHERE video_id NOT LIKE '-%' ORDER BY id LIMIT 1",
        )
    )
    answer = run_json(data, "recommend", "--count", "3", video[0][0], DATABASE_URL=postgres_url)
    assert len(answer["items"]) == 3


async def test_writes_wait_out_an_unreachable_server(postgres_url: str) -> None:
    """On PostgreSQL, write_behind queues a write the server could not take (connection
    refused or dropped) and writes it when the server answers again; other errors are
    the caller's, at once."""
    store = await Store.open(postgres_url)
    try:
        await store.add_file("bal_train/a.tfrecord", 1, _clips(2, "w"), "bal_train", 0)
        tracks = [(t.id, t.video_id) async for chunk in store.iter_tracks() for t in chunk]
        await store.record_reply(Reply(SNOWFLAKE, 1, 2, 3, "q", tuple(tracks)))
        outage = [2]  # the first two attempts find the server gone

        async def react(*args: object) -> bool:
            if outage[0]:
                outage[0] -= 1
                raise ConnectionRefusedError(111, "Connect call failed")
            return await store.set_reaction(*args)  # type: ignore[arg-type]

        assert await store.write_behind(react, 42, SNOWFLAKE, "1", True) is True  # queued
        assert store.pending_writes == 1
        for _ in range(60):
            if store.pending_writes == 0:
                break
            await asyncio.sleep(0.1)
        assert await store.ratings_of(42) == [(tracks[0][0], tracks[0][1], 1)]

        async def broken() -> None:
            await store._execute("SELECT no_such_column FROM ratings")

        with pytest.raises(Exception, match="no_such_column"):
            await store.write_behind(broken)
        assert store.pending_writes == 0
    finally:
        await store.close()


async def test_a_stalled_migration_elsewhere_holds_up_no_open_and_is_named(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migrate-to-postgres stalled with the migration lock held: a store on a current
    schema opens at once; one that must migrate gives up in time, naming the holder."""
    monkeypatch.setattr(db, "MIGRATION_WAIT_S", 1.0)
    current = await Store.open(postgres_url)  # migrates the empty database
    await current.close()
    holder = await asyncpg.connect(postgres_url, server_settings={"application_name": "stuck"})
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", db.MIGRATION_LOCK_KEY)
        started = asyncio.get_running_loop().time()
        store = await asyncio.wait_for(Store.open(postgres_url), 10)
        assert await store.schema_version() == SCHEMA_VERSION
        await store.close()
        assert asyncio.get_running_loop().time() - started < 5
        await _sql(postgres_url, "DELETE FROM earshot_schema")  # as if an upgrade were due
        with pytest.raises(DatabaseUnavailableError) as refused:
            await asyncio.wait_for(Store.open(postgres_url), 10)
        hint = refused.value.operator_hint
        assert "stuck" in hint and "migration lock for over 1 s" in hint, hint
    finally:
        await holder.close()


# --- TLS, as managed PostgreSQL providers require it --------------------------------


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL serving TLS with a certificate for localhost and 127.0.0.1 from
    a test CA; yields the server and the CA's certificate file."""
    import trustme

    from scripts.local_servers import PostgresServer, ServerUnavailable
    from tests.conftest import skip_or_fail

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain = b"".join(pem.bytes() for pem in cert.cert_chain_pems)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        server = PostgresServer(tls=(chain, cert.private_key_pem.bytes())).start()
    except ServerUnavailable as exc:
        skip_or_fail(f"PostgreSQL cannot be started here: {exc}")
    try:
        yield server, ca_file
    finally:
        server.stop()


async def _encrypted(store: Store) -> bool:
    rows = await store._all("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    return bool(rows[0][0])


async def test_a_managed_providers_tls_address_is_used_as_given(tls_postgres, tmp_path) -> None:
    """sslmode=require (what managed providers hand out) connects over TLS; verify-full
    with the provider's CA checks the certificate and the name; a wrong CA is refused in
    words that say so, never as 'unreachable' alone."""
    import trustme

    server, ca_file = tls_postgres
    base = server.url
    store = await Store.open(base + "?sslmode=require")
    try:
        assert await _encrypted(store)
    finally:
        await store.close()
    by_name = base.replace("127.0.0.1", "localhost")
    verified = f"{by_name}?sslmode=verify-full&sslrootcert={ca_file}"
    store = await Store.open(verified)
    try:
        assert await _encrypted(store)
    finally:
        await store.close()
    other_ca = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with pytest.raises(DatabaseUnavailableError) as wrong:
        await Store.open(base + f"?sslmode=verify-full&sslrootcert={other_ca}")
    assert "certificate verify failed" in wrong.value.operator_hint
    store = await Store.open(base + "?sslmode=require&channel_binding=prefer")
    await store.close()


async def test_requiring_tls_of_a_server_without_it_says_so(postgres_url: str) -> None:
    with pytest.raises(DatabaseUnavailableError) as refused:
        await Store.open(postgres_url + "?sslmode=require")
    assert "SSL" in refused.value.operator_hint or "ssl" in refused.value.operator_hint
    store = await Store.open(postgres_url + "?sslmode=prefer")  # falls back, as libpq does
    try:
        assert not await _encrypted(store)
    finally:
        await store.close()


async def test_the_doctor_says_whether_the_database_is_encrypted(
    tls_postgres, postgres_url: str
) -> None:
    from recommender.ops.doctor import OK, check_database
    from tests.conftest import engine_settings

    server, _ = tls_postgres
    check = await check_database(engine_settings(database_url=server.url + "?sslmode=require"))
    assert check.status == OK and check.detail.endswith(", TLS") and check.facts["tls"] is True
    check = await check_database(engine_settings(database_url=postgres_url))
    assert check.detail.endswith(", on this host") and check.facts["tls"] is False


def test_a_mistyped_sslmode_or_unsupported_channel_binding_is_one_clear_line() -> None:
    from recommender.config import ConfigError, Settings

    base = "postgresql://u:p@db.example.com/earshot"
    with pytest.raises(ConfigError, match="sslmode=requir; use one of disable, allow"):
        Settings.from_env({"DATABASE_URL": base + "?sslmode=requir"})
    with pytest.raises(ConfigError, match="channel_binding=require, which earshot"):
        Settings.from_env({"DATABASE_URL": base + "?sslmode=require&channel_binding=require"})
    ok = Settings.from_env({"DATABASE_URL": base + "?sslmode=verify-full&channel_binding=prefer"})
    assert ok.database_url is not None
    with pytest.raises(ConfigError, match="DATABASE_URL's port is not a number"):
        Settings.from_env({"DATABASE_URL": "postgresql://u:p@db.example.com:abc/earshot"})


def test_a_database_url_with_a_bad_port_is_one_line_from_every_command(tmp_path: Path) -> None:
    from scripts.standins.cli import run_cli

    url = "postgresql://u:secret@db.example.com:abc/earshot"
    for command in (["stats"], ["doctor"], ["reindex"]):
        done = run_cli(tmp_path, *command, check=False, DATABASE_URL=url)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "DATABASE_URL's port is not a number" in done.stderr, done.stderr
        assert "secret" not in done.stderr


@pytest.mark.slow
async def test_a_restart_mid_request_refuses_clearly_or_answers_and_loses_no_rating(
    built_catalog: Path, tmp_path: Path
) -> None:
    """The operator restarts PostgreSQL while members ask and rate: every ask is answered
    (a read waits a few seconds for the server) or refused in words (never an error id),
    and every rating given meanwhile is stored once the server is back, without a restart
    of earshot."""
    from recommender.engine import Engine
    from scripts.local_servers import PostgresServer
    from tests.conftest import engine_settings

    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    with PostgresServer() as server:
        run_cli(data, "migrate-to-postgres", DATABASE_URL=server.url)
        (data / "earshot.sqlite3").rename(data / "moved-away.sqlite3")
        engine = await Engine.open(engine_settings(data_dir=data, database_url=server.url))
        try:
            videos = [
                v
                for (v,) in await engine.store._all(
                    "SELECT video_id FROM tracks ORDER BY id LIMIT 40"
                )
            ]
            first = await engine.recommend(videos[0], 3)
            await engine.record_reply(SNOWFLAKE, 1, 2, 3, first)
            restarting = asyncio.ensure_future(asyncio.to_thread(server.restart, 2.0))
            answered = refused = 0
            raters = []
            member = 100
            while not restarting.done() or member < 110:
                member += 1
                assert await engine.react(member, SNOWFLAKE, "1", True) is True
                raters.append(member)
                try:
                    result = await engine.recommend(videos[member % len(videos)], 3)
                    assert len(result.items) == 3
                    answered += 1
                except DatabaseUnavailableError as exc:
                    assert "try again in a minute" in str(exc) and exc.operator_hint
                    refused += 1
                await asyncio.sleep(0.1)
            await restarting
            deadline = asyncio.get_running_loop().time() + 60  # a hang guard
            while engine.store.pending_writes:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
            for rater in raters:  # every rating given while the server was down is there
                assert await engine.store.ratings_of(rater) == [
                    (first.items[0].track_id, first.items[0].video_id, 1)
                ], rater
            assert len((await engine.recommend(videos[1], 3)).items) == 3
            assert answered + refused == len(raters)
            # down for longer than a read waits: the ask is refused in words, the rating kept
            restarting = asyncio.ensure_future(asyncio.to_thread(server.restart, 8.0))
            await asyncio.sleep(1.0)
            with pytest.raises(DatabaseUnavailableError, match="unreachable right now"):
                await engine.recommend(videos[2], 3)
            assert await engine.react(999, SNOWFLAKE, "1", True) is True
            await restarting
            while engine.store.pending_writes:
                assert asyncio.get_running_loop().time() < deadline + 60
                await asyncio.sleep(0.1)
            assert len(await engine.store.ratings_of(999)) == 1
        finally:
            await engine.close()
