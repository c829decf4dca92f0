"""The engine's settings, read from environment variables (see .env.example)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# tfhub.dev first (the handle earlier caches are keyed by), then its Kaggle Models mirror.
DEFAULT_VGGISH_MODEL = (
    "https://tfhub.dev/google/vggish/1,"
    "https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1"
)
DEFAULT_PCA_PARAMS_URL = "https://storage.googleapis.com/audioset/vggish_pca_params.npz"


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


JS_RUNTIMES = ("deno", "node", "bun", "quickjs")  # what yt-dlp can solve YouTube's JS with


def _js_runtime(env: Mapping[str, str]) -> str | None:
    raw = env.get("YTDLP_JS_RUNTIME", "").strip()
    if raw and raw.partition(":")[0].strip().lower() not in JS_RUNTIMES:
        raise ConfigError(
            f"YTDLP_JS_RUNTIME must be NAME or NAME:PATH with NAME one of "
            f"{', '.join(JS_RUNTIMES)}, got {raw!r}"
        )
    return raw or None


# libpq's, as managed PostgreSQL providers put them in their addresses; asyncpg reads them.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL must be a PostgreSQL address (postgresql://user:password@host/db); "
            "leave it unset for the SQLite database in DATA_DIR"
        )
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - reading it checks it: a port that is not a number raises
    except ValueError:
        raise ConfigError(
            "DATABASE_URL's port is not a number (postgresql://user:password@host:5432/db); "
            "leave the port out for PostgreSQL's 5432"
        ) from None
    query = parse_qs(parts.query)
    for mode in query.get("sslmode", []):
        if mode not in SSL_MODES:
            raise ConfigError(
                f"DATABASE_URL has sslmode={mode}; use one of {', '.join(SSL_MODES)} "
                "(verify-full checks the server's certificate and name)"
            )
    for binding in query.get("channel_binding", []):
        if binding != "disable" and binding != "prefer":
            raise ConfigError(
                f"DATABASE_URL asks for channel_binding={binding}, which earshot's PostgreSQL "
                "driver (asyncpg) cannot do; remove it and use sslmode=verify-full, which "
                "checks the server's certificate"
            )
    return raw


def _queue_url(env: Mapping[str, str]) -> str | None:
    raw = env.get("QUEUE_URL", "").strip()
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "QUEUE_URL must be a Redis address (redis://host:6379/0 or rediss://...); "
            "leave it unset to listen in this process's own workers"
        )
    return raw


SUGGEST_FROM = ("songs-first", "songs-only", "everything")


def _suggest_from(env: Mapping[str, str]) -> str:
    raw = env.get("SUGGEST_FROM", "").strip().lower() or SUGGEST_FROM[0]
    if raw not in SUGGEST_FROM:
        raise ConfigError(
            f"SUGGEST_FROM must be one of {', '.join(SUGGEST_FROM)}, got {raw!r} (songs-first: "
            "the server's songs, with AudioSet's clips only where they run short or are "
            "clearly better)"
        )
    return raw


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    audioset_dir: Path | None = None  # a local AudioSet folder for `prepare` to ingest
    # The official release's addresses, for `ingest --download` (None: Google's own).
    audioset_features_url: str | None = None
    audioset_features_sha256: str | None = None
    audioset_class_labels_url: str | None = None
    audioset_ontology_url: str | None = None
    index_trees: int = 10
    index_search_k: int = 1000  # 0: Annoy's default (trees * count)
    index_overfetch: int = 20
    index_max_groups: int = 8
    suggest_from: str = "songs-first"  # songs-first, songs-only or everything (AudioSet too)
    tagger_steps: int = 1200
    tagger_members: int = 2
    db_busy_timeout_s: float = 5.0
    vggish_model: str = DEFAULT_VGGISH_MODEL
    pca_params: Path | None = None  # default: DATA_DIR/vggish_pca_params.npz
    pca_params_url: str = DEFAULT_PCA_PARAMS_URL
    ffmpeg_binary: str | None = None
    max_video_seconds: int = 3 * 3600
    section_seconds: int = 30
    section_count: int = 2
    upload_max_bytes: int = 10 << 20  # a member's file: Discord's default upload limit
    download_max_bytes: int = 50_000_000
    request_timeout_s: float = 120.0
    max_concurrent_requests: int = 2
    listen_threads: int = 0  # TensorFlow threads per listening process; 0: its default
    listen_idle_s: float = 600.0  # listening workers stop after this long without a job
    ytdlp_cookies: Path | None = None
    ytdlp_proxy: str | None = None
    ytdlp_js_runtime: str | None = None  # NAME[:PATH]; default: the deno installed with earshot
    reconcile_days: float = 7.0  # at start-up, reactions on replies this recent are re-read
    facts_ttl_s: float = 30 * 86400.0  # how long a video's title and status are trusted
    titles_budget_s: float = 1.5  # at reply time, how long oEmbed checks may take
    verify_rate: float = 5.0  # oEmbed requests per second in `verify`
    # `add`'s pace per outside service: seconds between requests to it.
    add_youtube_pace_s: float = 2.0
    add_subsonic_pace_s: float = 0.0
    # A Subsonic server's user for `add` (never shown: not in a repr, a log or a file).
    subsonic_user: str = ""
    subsonic_password: str = field(default="", repr=False)
    subsonic_api_key: str = field(default="", repr=False)
    # Past one machine (all unset: the embedded default, SQLite and in-process workers).
    database_url: str | None = None  # postgresql://... for shared state; None: SQLite
    queue_url: str | None = None  # redis://... : listening jobs go to `recommender worker`s
    queue_name: str = "earshot:listen"
    index_root: Path | None = None  # INDEX_DIR: a shared folder; default DATA_DIR/index
    index_watch_s: float = 5.0  # how often a process looks for a newly published index
    allow_test_hosts: bool = False  # test-only: lets yt-dlp fetch from 127.0.0.1
    test_media_base: str | None = None  # test-only: where video ids are served from
    test_music_base: str | None = None  # test-only: Deezer's and iTunes' stand-in
    test_youtube_proxy: str | None = None  # test-only: YouTube's search, an HTTPS proxy
    test_discord_cdn: str | None = None  # test-only: where attachments are served from
    test_youtube_ca: str | None = None  # test-only: that stand-in's certificate authority
    test_oembed_base: str | None = None  # test-only: an oEmbed stand-in on 127.0.0.1

    @property
    def database_path(self) -> Path:
        return self.data_dir / "earshot.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.index_root or self.data_dir / "index"

    @property
    def index_prune_grace_s(self) -> float:
        """A shared INDEX_DIR keeps a superseded build this long: other hosts may still be
        reading it (deleted files stay readable to this host's mmaps, not over NFS)."""
        return 600.0 if self.index_root is not None else 0.0

    @property
    def pca_params_path(self) -> Path:
        return self.pca_params or self.data_dir / "vggish_pca_params.npz"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def path(name: str) -> Path | None:
            raw = env.get(name, "").strip()
            return Path(raw).expanduser() if raw else None

        return cls(
            data_dir=path("DATA_DIR") or Path("data"),
            audioset_dir=path("AUDIOSET_DIR"),
            audioset_features_url=env.get("AUDIOSET_FEATURES_URL", "").strip() or None,
            audioset_features_sha256=env.get("AUDIOSET_FEATURES_SHA256", "").strip() or None,
            audioset_class_labels_url=env.get("AUDIOSET_CLASS_LABELS_URL", "").strip() or None,
            audioset_ontology_url=env.get("AUDIOSET_ONTOLOGY_URL", "").strip() or None,
            index_trees=_int(env, "INDEX_TREES", 10, 1, 2000),
            index_search_k=_int(env, "INDEX_SEARCH_K", 1000, 0, 10_000_000),
            index_overfetch=_int(env, "INDEX_OVERFETCH", 20, 1, 200),
            index_max_groups=_int(env, "INDEX_MAX_GROUPS", 8, 1, 100_000),
            suggest_from=_suggest_from(env),
            tagger_steps=_int(env, "TAGGER_STEPS", 1200, 10, 1_000_000),
            tagger_members=_int(env, "TAGGER_MEMBERS", 2, 1, 16),
            db_busy_timeout_s=_float(env, "DB_BUSY_TIMEOUT_SECONDS", 5.0, 0.1, 600.0),
            vggish_model=env.get("VGGISH_MODEL", "").strip() or DEFAULT_VGGISH_MODEL,
            pca_params=path("VGGISH_PCA_PARAMS"),
            pca_params_url=env.get("VGGISH_PCA_PARAMS_URL", "").strip() or DEFAULT_PCA_PARAMS_URL,
            ffmpeg_binary=env.get("FFMPEG_BINARY", "").strip() or None,
            max_video_seconds=_int(env, "MAX_VIDEO_SECONDS", 3 * 3600, 10, 48 * 3600),
            section_seconds=_int(env, "SECTION_SECONDS", 30, 2, 600),
            section_count=_int(env, "SECTION_COUNT", 2, 1, 10),
            upload_max_bytes=_int(env, "UPLOAD_MAX_BYTES", 10 << 20, 100_000, 500 << 20),
            download_max_bytes=_int(env, "DOWNLOAD_MAX_BYTES", 50_000_000, 100_000, 2_000_000_000),
            request_timeout_s=_float(env, "REQUEST_TIMEOUT_SECONDS", 120.0, 1.0, 3600.0),
            max_concurrent_requests=_int(env, "MAX_CONCURRENT_REQUESTS", 2, 1, 64),
            listen_threads=_int(env, "LISTEN_THREADS", 0, 0, 256),
            listen_idle_s=_float(env, "LISTEN_IDLE_SECONDS", 600.0, 1.0, 7 * 86400.0),
            ytdlp_cookies=path("YTDLP_COOKIES_FILE"),
            ytdlp_proxy=env.get("YTDLP_PROXY", "").strip() or None,
            ytdlp_js_runtime=_js_runtime(env),
            reconcile_days=_float(env, "RECONCILE_DAYS", 7.0, 0.0, 365.0),
            facts_ttl_s=86400.0 * _float(env, "VIDEO_FACTS_TTL_DAYS", 30.0, 0.0, 3650.0),
            titles_budget_s=_float(env, "TITLES_BUDGET_SECONDS", 1.5, 0.0, 30.0),
            verify_rate=_float(env, "VERIFY_RATE", 5.0, 0.1, 100.0),
            add_youtube_pace_s=_float(env, "ADD_YOUTUBE_PACE_SECONDS", 2.0, 0.0, 3600.0),
            add_subsonic_pace_s=_float(env, "ADD_SUBSONIC_PACE_SECONDS", 0.0, 0.0, 3600.0),
            subsonic_user=env.get("SUBSONIC_USER", "").strip(),
            subsonic_password=env.get("SUBSONIC_PASSWORD", ""),
            subsonic_api_key=env.get("SUBSONIC_API_KEY", "").strip(),
            database_url=_database_url(env),
            queue_url=_queue_url(env),
            queue_name=env.get("QUEUE_NAME", "").strip() or "earshot:listen",
            index_root=path("INDEX_DIR"),
            index_watch_s=_float(env, "INDEX_WATCH_SECONDS", 5.0, 0.1, 3600.0),
            allow_test_hosts=_bool(env, "EARSHOT_TEST_ALLOW_LOOPBACK"),
            test_media_base=env.get("EARSHOT_TEST_MEDIA_BASE", "").strip() or None,
            test_music_base=env.get("EARSHOT_TEST_MUSIC_BASE", "").strip() or None,
            test_youtube_proxy=env.get("EARSHOT_TEST_YOUTUBE_PROXY", "").strip() or None,
            test_discord_cdn=env.get("EARSHOT_TEST_DISCORD_CDN", "").strip() or None,
            test_youtube_ca=env.get("EARSHOT_TEST_YOUTUBE_CA", "").strip() or None,
            test_oembed_base=env.get("EARSHOT_TEST_OEMBED_BASE", "").strip() or None,
        )
