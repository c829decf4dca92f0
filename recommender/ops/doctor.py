"""``python -m recommender doctor``: does this deployment have what the real services need?

Each check says ok, warn or fail, with the facts behind it. The engine's checks are here;
other packages add theirs through the ``earshot.doctor`` entry-point group (the bot adds
the Discord token's shape and its invite link), so this library never learns about them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..addresses import LOOPBACK
from ..config import Settings
from ..disk import LOW_SPACE_BYTES, describe_free
from ..errors import EarshotError
from ..listening.audio import ffmpeg_path
from ..listening.embedder import PCA_PARAMS_SHA256
from ..vggish_format import EMBEDDING_SIZE

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
ENTRY_POINT_GROUP = "earshot.doctor"
MIN_FREE_BYTES = 1 << 30  # below this, a reindex or a download may run out of disk


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn or fail
    detail: str  # one line for the table
    facts: dict[str, Any] = field(default_factory=dict)  # for --json


def _run(command: list[str], timeout_s: float = 30.0) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise EarshotError(lines[-1] if lines else f"exit code {done.returncode}")
    return done.stdout.strip()


async def check_ytdlp(options: Any) -> Check:
    from ..sources.youtube import ytdlp_environment

    seen = await asyncio.to_thread(ytdlp_environment, options)
    name, path = options.js_runtime
    facts = {
        "yt_dlp": seen.version,
        "js_runtimes": seen.js_runtimes,
        "ejs": seen.ejs_version,
        "runtime": name,
        "runtime_path": path,
    }
    if seen.js_runtimes.startswith("none") or "unsupported" in seen.js_runtimes:
        return Check(
            "yt-dlp",
            FAIL,
            f"yt-dlp {seen.version} sees no usable JavaScript runtime ({seen.js_runtimes}); "
            "YouTube formats will go missing. Reinstall earshot (the deno package) or set "
            "YTDLP_JS_RUNTIME",
            facts,
        )
    if not seen.ejs_version:
        return Check(
            "yt-dlp",
            FAIL,
            f"yt-dlp {seen.version} has no yt-dlp-ejs solver: install yt-dlp[default]",
            facts,
        )
    if name in ("deno", "node", "bun"):  # run it for real: a noexec mount would stop it here
        program = {"deno": ["eval", "console.log(6*7)"], "node": ["-e", "console.log(6*7)"]}
        args = program.get(name, ["-e", "console.log(6*7)"])
        try:
            answer = await asyncio.to_thread(_run, [path or name, *args])
        except (OSError, subprocess.SubprocessError, EarshotError) as exc:
            return Check("yt-dlp", FAIL, f"{seen.js_runtimes} is found but does not run: {exc}")
        if answer != "42":
            return Check("yt-dlp", FAIL, f"{seen.js_runtimes} ran, but answered {answer!r}")
    return Check(
        "yt-dlp",
        OK,
        f"yt-dlp {seen.version}, JS runtime {seen.js_runtimes}, solver yt-dlp-ejs "
        f"{seen.ejs_version}",
        facts,
    )


KNOWN_VIDEO = "dQw4w9WgXcQ"  # a video that has played for many years, to ask oEmbed about


async def check_oembed(base: str) -> Check:
    """Titles and dead links come from YouTube's oEmbed: can this server ask it?"""
    from ..sources.oembed import OEmbedClient, RateLimitedError

    try:
        async with OEmbedClient(base, timeout_s=10.0) as client:
            facts = await client.check(KNOWN_VIDEO)
    except RateLimitedError:
        return Check("YouTube oEmbed", WARN, "answers 429 (rate-limited): titles will be late")
    if facts is None:
        return Check(
            "YouTube oEmbed",
            WARN,
            f"{base} did not answer: suggestions show without titles, and dead videos are "
            "only skipped once `verify` or a later reply learns of them",
            {"base": base},
        )
    facts_dict = {"base": base, "status": str(facts.status), "title": facts.title}
    if not facts.playable:
        return Check("YouTube oEmbed", WARN, f"says {KNOWN_VIDEO} is {facts.status}", facts_dict)
    return Check("YouTube oEmbed", OK, f"answers: {KNOWN_VIDEO} is {facts.title!r}", facts_dict)


# Songs that have long had a preview, to ask each music service about.
KNOWN_SONGS = (
    ("spotify", "0DiWol3AO6WpXZgp0goxAV"),  # Daft Punk, One More Time
    ("deezer", "3135556"),
    ("apple_music", "697195462"),
)


async def check_music_services(settings: Settings) -> Check:
    """Spotify's embed page, Deezer's API and the iTunes lookup: does each still answer,
    in the shape earshot reads, with a preview to listen to?"""
    from ..sources.previews import PREVIEW_SOURCES
    from ..sources.reference import SongRef
    from ..sources.web import SourceUnavailableError, WebClient

    base = settings.test_music_base if settings.allow_test_hosts else None
    said, facts, problems = [], {}, []
    for source, song in KNOWN_SONGS:
        service = PREVIEW_SOURCES[source]
        ref = SongRef(source, song, "")
        try:
            async with WebClient(service.name, allow_loopback=base is not None) as client:
                info = await service.lookup(
                    client, ref, f"{base}/{source}" if base else service.api
                )
        except (SourceUnavailableError, EarshotError) as exc:
            problems.append(f"{service.name}: {exc}")
            continue
        facts[source] = {"title": info.name, "preview": bool(info.preview_url)}
        if not info.preview_url:
            problems.append(f"{service.name} named {info.name!r} but gave no preview")
        else:
            said.append(service.name)
    if problems:
        detail = "; ".join(problems) + " (members' links there are refused, saying why)"
        return Check("music services", WARN, detail, facts)
    return Check("music services", OK, f"{', '.join(said)} answer with previews", facts)


KNOWN_NAME = "daft punk one more time"  # a song YouTube Music has long had


async def check_youtube_search(settings: Settings) -> Check:
    """Songs named in words: do YouTube Music's and YouTube's searches answer, and does
    earshot understand the answer well enough to pick the song?"""
    from ..listening.searched import search_options
    from ..sources.web import SourceUnavailableError
    from ..sources.words import Wanted
    from ..sources.youtube_search import find

    try:
        found = await asyncio.wait_for(
            asyncio.to_thread(find, Wanted(KNOWN_NAME), search_options(settings)), 30
        )
    except (SourceUnavailableError, TimeoutError) as exc:
        detail = f"{exc or 'no answer in 30 s'} (songs named in words are refused, saying why)"
        return Check("YouTube search", WARN, detail)
    if found is None:
        detail = f"found nothing for {KNOWN_NAME!r}: its answers may have changed shape"
        return Check("YouTube search", WARN, detail)
    facts = {"video_id": found.video_id, "title": found.title, "by": found.how}
    said = f"{found.how} found {found.title!r} for {KNOWN_NAME!r}"
    return Check("YouTube search", OK, said, facts)


async def check_ffmpeg(settings: Settings) -> Check:
    try:
        binary = ffmpeg_path(settings.ffmpeg_binary)
        first = (await asyncio.to_thread(_run, [binary, "-version"])).splitlines()[0]
    except (OSError, subprocess.SubprocessError, EarshotError) as exc:
        return Check("ffmpeg", FAIL, f"ffmpeg does not run: {exc}")
    version = first.removeprefix("ffmpeg version ").split(" ")[0]
    return Check("ffmpeg", OK, f"ffmpeg {version}", {"path": binary, "version": version})


async def check_pca(settings: Settings, engine: Any) -> Check:
    try:
        path = await engine.listener.ensure_pca_params()
    except Exception as exc:  # a fetch can fail many ways; the operator needs the message
        return Check("PCA parameters", FAIL, f"cannot fetch them: {exc}")
    digest = await asyncio.to_thread(lambda: hashlib.sha256(path.read_bytes()).hexdigest())
    facts = {"path": str(path.resolve()), "sha256": digest}
    if digest != PCA_PARAMS_SHA256:
        return Check(
            "PCA parameters",
            FAIL,
            f"{path} is not Google's vggish_pca_params.npz (sha256 {digest[:12]}…, expected "
            f"{PCA_PARAMS_SHA256[:12]}…): queries would not land in the catalog's space",
            facts,
        )
    return Check("PCA parameters", OK, f"sha256 {digest[:12]}… matches AudioSet's", facts)


async def check_database(settings: Settings) -> Check:
    """Which database holds the catalog and ratings, and that it opens at this schema."""
    from ..catalog.db import is_damaged
    from ..catalog.store import Store
    from ..errors import DatabaseDamagedError, DatabaseUnavailableError

    try:
        store = await Store.open_settings(settings)
    except DatabaseUnavailableError as exc:
        return Check("database", FAIL, exc.operator_hint)
    try:
        version = await store.schema_version()
        facts = {"dialect": store.dialect, "where": store.where, "schema": version}
        if store.dialect == "sqlite":  # every page readable (a scan: the doctor's to pay)
            (verdict,) = await store._one("PRAGMA quick_check(1)")
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {verdict}")
        else:
            (encrypted,) = await store._one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            facts["tls"] = bool(encrypted)
    except Exception as exc:
        if not is_damaged(exc):
            raise
        return Check("database", FAIL, DatabaseDamagedError(store.where, exc).operator_hint)
    finally:
        await store.close()
    if store.dialect == "sqlite":
        return Check("database", OK, f"SQLite {store.where}, schema version {version}", facts)
    head = f"PostgreSQL {store.where}, schema version {version}"
    host = urlsplit(settings.database_url or "").hostname or ""
    if not facts["tls"] and host not in LOOPBACK:
        return Check(
            "database",
            WARN,
            f"{head}, not encrypted between hosts: add ?sslmode=verify-full (with "
            "sslrootcert=YOUR_PROVIDERS_CA.pem) to DATABASE_URL",
            facts,
        )
    return Check("database", OK, f"{head}, {'TLS' if facts['tls'] else 'on this host'}", facts)


async def check_queue(settings: Settings) -> Check:
    """With QUEUE_URL: Redis answers, and some listening worker reported lately."""
    from arq.constants import health_check_key_suffix

    from ..addresses import exposure, redact
    from ..listening.jobs import ListenQueue, QueueUnavailableError

    where = redact(settings.queue_url or "")
    try:
        queue = await ListenQueue.connect(settings)
    except QueueUnavailableError as exc:
        return Check("listening queue", FAIL, exc.operator_hint)
    try:
        info = await asyncio.wait_for(queue.redis.info("server"), 10)
        waiting = await queue.depth()
        health = await queue.redis.get(settings.queue_name + health_check_key_suffix)
    except Exception as exc:
        return Check("listening queue", FAIL, f"{where}: {type(exc).__name__}: {exc}")
    finally:
        await queue.close()
    facts = {
        "url": where,
        "queue": settings.queue_name,
        "redis": info.get("redis_version"),
        "jobs_waiting": waiting,
        "worker_report": health.decode() if health else None,
    }
    head = f"Redis {info.get('redis_version')} at {where}, queue {settings.queue_name!r}"
    if not health:
        return Check(
            "listening queue",
            WARN,
            f"{head}: no worker has reported in the last 30 s; new songs wait until "
            "`python -m recommender worker` runs somewhere",
            facts,
        )
    gaps = exposure(settings.queue_url or "")
    if gaps:
        return Check("listening queue", WARN, f"{head}, open to the network: {gaps}", facts)
    return Check("listening queue", OK, f"{head}, {waiting} job(s) waiting; workers report", facts)


async def check_model(engine: Any) -> Check:
    """The model loads and embeds here. With a queue, links are heard by the queue's
    workers, but this host still hears members' uploads and previews itself (their bytes
    are fetched here and never cross Redis), so it needs the model as much as they do."""
    queued = bool(engine.settings.queue_url)
    started = time.perf_counter()
    try:
        result = await engine.listener.check_model()
    except Exception as exc:  # ModelError names every handle; anything else, as it is
        said = " ".join(str(exc).split())
        if queued:
            said = f"this host hears uploads and previews itself, and cannot: {said}"
        return Check("VGGish model", FAIL, said)
    seconds = time.perf_counter() - started
    facts = {
        "handle": result.handle,
        "version": result.version,
        "shape": list(result.shape),
        "load_s": round(seconds, 1),
        "loaded_here": True,
        "hears_here": "uploads and previews" if queued else "everything",
    }
    if result.shape != (1, EMBEDDING_SIZE):
        return Check("VGGish model", FAIL, f"one second gave frames of shape {result.shape}", facts)
    loaded = f"loaded from {result.handle} in {seconds:.1f} s; 1 s of audio -> 1 x 128 frames"
    if queued:
        loaded = f"{loaded}; queue workers hear links, this host uploads and previews"
    return Check("VGGish model", OK, loaded, facts)


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def check_data_dir(settings: Settings) -> Check:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data folder", FAIL, f"{folder} is not writable: {exc}")
    free = shutil.disk_usage(folder).free
    facts = {"path": str(folder.resolve()), "free_bytes": free}
    detail = f"{folder.resolve()} writable, {free / 2**30:.1f} GB free"
    if free < LOW_SPACE_BYTES:
        return Check(
            "data folder",
            FAIL,
            f"{describe_free(folder.resolve())} is full: new songs cannot be listened to, and "
            "ratings wait in the bot's memory until there is room",
            facts,
        )
    if free < MIN_FREE_BYTES:
        return Check("data folder", WARN, detail + " (under 1 GB: a reindex may not fit)", facts)
    return Check("data folder", OK, detail, facts)


async def check_catalog(engine: Any) -> list[Check]:
    stats = await engine.stats()
    counts = {
        "tracks": stats.tracks,
        "member_tracks": stats.member_tracks,
        "songs": stats.songs,
        "songs_without_video": stats.songs_without_video,
        "audioset_clips": stats.catalog_clips,
        "cached_embeddings": stats.cached_embeddings,
        "ratings": stats.ratings,
    }
    catalog = (
        Check(
            "catalog",
            OK,
            f"{stats.catalog_in_words}; "
            f"{stats.cached_embeddings:,} songs cached, {stats.ratings:,} ratings",
            counts,
        )
        if stats.catalog_clips
        else Check("catalog", FAIL, "empty: run `python -m recommender prepare` (or ingest)", {})
    )
    problem = await engine.verify_index()  # every checksum, every vector finite
    if problem:
        return [catalog, Check("index", FAIL, problem, {})]
    if stats.index is None or engine.index is None:
        return [catalog, Check("index", FAIL, "none: run `python -m recommender reindex`", {})]
    age_h = (time.time() - stats.index.built_at) / 3600
    size = await asyncio.to_thread(_folder_size, engine.index.path)
    facts = {"items": stats.indexed, "age_hours": round(age_h, 1), "bytes": size}
    detail = f"{stats.indexed:,} items, built {age_h:.1f} h ago, {size / 2**20:,.0f} MB on disk"
    status = OK if stats.indexed else FAIL
    return [catalog, Check("index", status, detail, facts)]


ExtraChecks = Callable[[Mapping[str, str]], Awaitable[Iterable[Check]]]


def _extra_checks() -> list[tuple[str, ExtraChecks]]:
    return [(ep.name, ep.load()) for ep in entry_points(group=ENTRY_POINT_GROUP)]


async def _engine_checks(settings: Settings) -> list[Check]:
    from ..engine import Engine

    checks = []
    engine = await Engine.open(settings)
    try:
        checks.append(await check_ytdlp(engine.listener.fetch_options()))
        checks.append(await check_oembed(engine.facts.base))
        checks.append(await check_music_services(settings))
        checks.append(await check_youtube_search(settings))
        checks.append(await check_ffmpeg(settings))
        checks.append(await check_pca(settings, engine))
        if settings.queue_url:
            checks.append(await check_queue(settings))
        checks.append(await check_model(engine))
        checks.extend(await check_catalog(engine))
    finally:
        await engine.close()
    return checks


async def run_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Every check, the cheap ones first; the model loads in a listening worker."""
    from ..listening.embedder import configure_hub_cache

    configure_hub_cache(settings.data_dir)
    checks = [await check_data_dir(settings), await check_database(settings)]
    if checks[-1].status != FAIL:  # the engine's checks need the database
        checks.extend(await _engine_checks(settings))
    for name, extra in _extra_checks():
        try:
            checks.extend(await extra(env))
        except Exception as exc:  # a broken plug-in is a failed check, not a crash
            log.exception("doctor checks from %s failed", name)
            checks.append(Check(name, FAIL, f"its checks could not run: {exc}"))
    return checks


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    marks = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}
    return "\n".join(f"{marks[c.status]}  {c.name:<{width}}  {c.detail}" for c in checks)


def as_json(checks: list[Check], seconds: float) -> dict[str, Any]:
    return {
        "ok": all(c.status != FAIL for c in checks),
        "failed": [c.name for c in checks if c.status == FAIL],
        "seconds": round(seconds, 1),
        "checks": [asdict(c) for c in checks],
    }
