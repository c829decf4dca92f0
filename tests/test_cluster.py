"""earshot past one machine, all on this one (issue 15): 4 shards run by 2 bot processes,
2 listening workers on Redis, PostgreSQL, a shared index folder, driven as members would
through the local Discord API. Every process is real; see scripts/cluster.py."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.cluster import Cluster
from scripts.local_servers import PostgresServer
from scripts.standins.discord_api import Member
from scripts.standins.media import make_song
from tests.test_bot import NUMBERS, OWNER, catalog_video, member, outcome

pytestmark = pytest.mark.slow

NEW_SONGS = [f"clustr{n:05d}" for n in range(50)]  # 11 characters, as YouTube's ids
STALLED = "stalledsong"
# A job's time limit in the workers: a job takes about a second on an idle machine, so 20 s
# holds under load; a SIGKILLed worker's job runs again 20 + 10 s after it began.
WORKER_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-media")
    songs = [*NEW_SONGS, STALLED]
    with ThreadPoolExecutor(4) as pool:
        list(
            pool.map(
                lambda n: make_song(root / f"{songs[n]}.mp3", 6.0, tone=110.0 + 7.0 * n),
                range(len(songs)),
            )
        )
    return root


@pytest.fixture(scope="module")
def cluster(
    built_catalog: Path,
    fake_vggish: Path,
    pca_params: Path,
    media: Path,
    redis_url: str,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    with Cluster(
        tmp_path_factory.mktemp("cluster"),
        built_catalog,
        fake_vggish,
        pca_params,
        media,
        bots=2,
        workers=2,
        shards=4,
        redis_url=redis_url,
        postgres_url=postgres_server.url,
        request_timeout_s=WORKER_TIMEOUT_S,
        bot_request_timeout_s=45.0,  # a bot waits 105 s for a job, queueing included
        owner_id=OWNER.id,
    ) as running:
        yield running


def _links(answer: dict) -> list[str]:
    return [
        line.split("](")[1].split(")")[0]
        for line in answer["message"]["embeds"][0]["description"].splitlines()
        if line.startswith("**")
    ]


def _ask(cluster: Cluster, who: Member, guild: int, url: str, count: int = 3) -> dict:
    return cluster.discord.interaction(who, "recommend", guild_id=guild, song=url, count=count)


def _answer(cluster: Cluster, record: dict, count: int = 3, timeout: float = 120) -> dict:
    answer = outcome(cluster.discord, record, reactions=count + 1, timeout=timeout)
    assert answer["kind"] == "public", answer["content"]
    assert answer["message"]["guild_id"] == record["guild_id"]  # answered in its server
    return answer


def test_a_hundred_requests_at_once_across_four_shards(cluster: Cluster, built_catalog: Path):
    discord = cluster.discord
    assert sorted(discord.identified_shards) == [[s, 4] for s in range(4)]
    assert [cluster.shard_of(g) for g in cluster.guild_ids] == [0, 1, 2, 3]
    assert [cluster.guilds_of(n) for n in (0, 1)] == [cluster.guild_ids[:2], cluster.guild_ids[2:]]
    urls = [
        f"https://youtu.be/{NEW_SONGS[i // 2]}" if i % 2 else catalog_video(built_catalog, i // 2)
        for i in range(100)
    ]
    started = time.monotonic()
    records = [_ask(cluster, member(), cluster.guild_ids[i % 4], url) for i, url in enumerate(urls)]
    answers = [_answer(cluster, record, timeout=180) for record in records]
    took = time.monotonic() - started
    assert {a["message"]["guild_id"] for a in answers} == {str(g) for g in cluster.guild_ids}
    # Every new song was listened to once, by one worker or the other; both took jobs.
    assert [cluster.downloads(v) for v in NEW_SONGS] == [1] * len(NEW_SONGS)
    done = cluster.jobs_done()
    assert sum(done) == len(NEW_SONGS) and all(done), done
    for n in (0, 1):  # each process answered its own servers' requests
        assert f"Shard ID {cluster.shard_split[n][0]} has connected" in cluster.bot_log(n)
    # The workers wrote the shared cache in PostgreSQL: asked again, in a server of the
    # other process, a new song is answered from it, with no download.
    cached = cluster.sql("SELECT video_id FROM embeddings WHERE video_id LIKE 'clustr%'")
    assert sorted(v for (v,) in cached) == NEW_SONGS
    again = _answer(cluster, _ask(cluster, member(), cluster.guild_ids[2], urls[1]))
    assert again["message"]["embeds"][0]["url"].startswith(
        urls[1].replace("youtu.be/", "www.youtube.com/watch?v=")
    )
    assert cluster.downloads(NEW_SONGS[0]) == 1 and sum(cluster.jobs_done()) == len(NEW_SONGS)
    print(f"100 requests answered in {took:.1f} s; jobs per worker {done}")


def test_ratings_given_through_one_process_count_through_the_other(
    cluster: Cluster, built_catalog: Path
) -> None:
    discord = cluster.discord
    here, there = cluster.guilds_of(0)[0], cluster.guilds_of(1)[0]
    carol = member()
    video = catalog_video(built_catalog, 60)
    first = _answer(cluster, _ask(cluster, carol, here, video, 5), 5)
    links = _links(first)
    message = int(first["message"]["id"])
    discord.react(carol, message, NUMBERS[0])  # goes to process 0, which runs this server
    discord.react(carol, message, "👎")
    rows = "SELECT position, value FROM ratings WHERE user_id = $1 ORDER BY position"
    discord.wait_for(
        lambda: cluster.sql(rows, carol.id) == [(1, 1), (2, -1), (3, -1), (4, -1), (5, -1)],
        30,
        "carol's ratings in PostgreSQL",
    )
    again = _answer(cluster, _ask(cluster, carol, there, video, 5), 5)  # through process 1
    for disliked in links[1:]:
        assert disliked not in _links(again)  # what carol disliked never comes back to her
    assert links[1] in _links(_answer(cluster, _ask(cluster, member(), there, video, 5), 5))
    taste = outcome(discord, discord.interaction(carol, "taste", guild_id=there))
    fields = {f["name"]: f["value"] for f in taste["message"]["embeds"][0]["fields"]}
    assert fields["Ratings"] == "1 liked, 4 missed"


def test_a_worker_killed_mid_job_loses_no_request(cluster: Cluster) -> None:
    youtube = cluster.youtube
    youtube.stall_s = 2.0  # the job is in the middle of its download when its worker dies
    try:
        record = _ask(cluster, member(), cluster.guild_ids[1], f"https://youtu.be/{STALLED}")
        cluster.discord.wait_for(lambda: cluster.downloads(STALLED), 60, "the download")
        cluster.discord.wait_for(  # arq logs a job as it starts it
            lambda: any(f":{STALLED}:listen(" in "".join(w.lines) for w in cluster.workers),
            10,
            "the job to start",
        )
        doomed = next(
            n
            for n in (0, 1)
            if any(f":{STALLED}:listen(" in line for line in cluster.workers[n].lines)
        )
        cluster.kill_worker(doomed)
    finally:
        youtube.stall_s = 0.0
    answer = _answer(cluster, record, timeout=150)  # a hang guard: the mark expires in 30 s
    rescuer = cluster.workers[1 - doomed]
    assert any(f"(try 2): {STALLED}" in line for line in rescuer.lines), rescuer.log
    assert answer["message"]["embeds"][0]["url"].startswith(
        f"https://www.youtube.com/watch?v={STALLED}"
    )
    cluster.start_worker(doomed)  # whole again for what follows
    assert cluster.workers[doomed].alive


def test_a_killed_bot_process_comes_back_with_its_shards(
    cluster: Cluster, built_catalog: Path
) -> None:
    discord = cluster.discord
    guilds = cluster.guilds_of(1)
    seen = len(discord.identified_shards)
    cluster.kill_bot(1)
    discord.wait_for(
        lambda: not any(discord.shard_connected(g) for g in guilds), 20, "its shards to drop"
    )
    assert discord.shard_connected(cluster.guilds_of(0)[0])  # the other process is unmoved
    with pytest.raises(RuntimeError, match="no connected shard"):
        discord.interaction(member(), "recommend", guild_id=guilds[0], song="dQw4w9WgXcQ")
    took = cluster.start_bot(1)
    assert sorted(discord.identified_shards[seen:]) == [[2, 4], [3, 4]]
    for n, guild in enumerate(guilds):
        _answer(cluster, _ask(cluster, member(), guild, catalog_video(built_catalog, 70 + n)))
    print(f"bot process 1 back with shards 2 and 3 in {took:.1f} s")


def test_a_rebuild_published_while_requests_flow(cluster: Cluster, built_catalog: Path) -> None:
    discord = cluster.discord
    before = cluster.current_index()
    started = discord.interaction(OWNER, "reindex", guild_id=cluster.guilds_of(0)[0])
    assert "Rebuilding the index" in outcome(discord, started)["content"]

    def rebuilt() -> str | None:
        content = discord.messages[started["original"]]["content"]
        return content if "Index rebuilt" in content or "failed" in content else None

    answers: list[dict] = []
    deadline = time.monotonic() + 150
    while True:  # requests keep coming through both processes until the rebuild is out
        finished = rebuilt()
        batch = [  # one in each server: both processes, all four shards
            _ask(cluster, member(), guild, catalog_video(built_catalog, 80 + len(answers) % 40))
            for guild in cluster.guild_ids
        ]
        answers += [_answer(cluster, record) for record in batch]
        if finished:
            break
        assert time.monotonic() < deadline, discord.messages[started["original"]]["content"]
        time.sleep(0.5)
    final = rebuilt()
    assert final and "now serving" in final, final
    after = cluster.current_index()
    assert after and after != before
    assert "index rebuilt" in cluster.bot_log(0)
    discord.wait_for(
        lambda: f"picked up published index {after}" in cluster.bot_log(1),
        10,
        "process 1 to pick up the new build",
    )
    figures = []
    for n in (0, 1):
        asked_stats = discord.interaction(OWNER, "stats", guild_id=cluster.guilds_of(n)[0])
        stats = outcome(discord, asked_stats)
        fields = {f["name"]: f["value"] for f in stats["message"]["embeds"][0]["fields"]}
        figures.append(re.sub(r"built .*", "", fields["Index"]))
    assert figures[0] == figures[1]  # both processes serve the same build
    print(f"{len(answers)} requests answered during the rebuild")
