"""``python -m recommender doctor``, run as an operator would, on a real deployment folder:
yt-dlp's own view of its JS runtime and solver, ffmpeg, the model loaded and run in a
listening worker, the PCA parameters, the data folder, the catalog and index, and the
bot's checks (token shape, invite link) through the ``earshot.doctor`` entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.doctor import application_id
from recommender.config import Settings
from scripts.standins.bot_process import TOKEN
from scripts.standins.cli import run_cli


@pytest.fixture(scope="module")
def deployment(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("doctor") / "data"
    shutil.copytree(built_catalog, data)
    return data


def _env(model: Path, pca: Path, **extra: str) -> dict[str, str]:
    return {
        "VGGISH_MODEL": str(model),
        "VGGISH_PCA_PARAMS": str(pca),
        "DISCORD_TOKEN": TOKEN,
        "YTDLP_JS_RUNTIME": "",
        **extra,
    }


def _doctor(data: Path, **env: str) -> tuple[int, dict, str]:
    done = run_cli(data, "doctor", "--json", check=False, **env)
    report = json.loads(done.stdout)
    return done.returncode, report, done.stdout + done.stderr


def test_a_healthy_deployment_passes_every_check(
    deployment: Path, fake_vggish: Path, pca_params: Path
) -> None:
    code, report, output = _doctor(deployment, **_env(fake_vggish, pca_params))
    assert code == 0 and report["ok"] and not report["failed"], output
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == [
        "data folder",
        "database",
        "yt-dlp",
        "YouTube oEmbed",
        "music services",
        "YouTube search",
        "ffmpeg",
        "PCA parameters",
        "VGGish model",
        "catalog",
        "index",
        "Discord token",
        "invite link",
        "owner commands",
    ]
    assert checks["owner commands"]["status"] == "ok"
    music = checks["music services"]
    assert music["status"] == "ok", music  # the stand-ins every test gets
    assert music["detail"] == "Spotify, Deezer, Apple Music answer with previews"
    search = checks["YouTube search"]
    assert search["status"] == "ok", search
    assert search["detail"] == "YouTube Music found 'One More Time' for 'daft punk one more time'"
    ytdlp = checks["yt-dlp"]["facts"]
    assert ytdlp["js_runtimes"].startswith("deno-2.") and ytdlp["ejs"]
    assert Path(ytdlp["runtime_path"]).name == "deno"
    assert checks["ffmpeg"]["facts"]["version"]
    assert checks["YouTube oEmbed"]["status"] == "ok"  # the stand-in every test gets
    assert checks["YouTube oEmbed"]["facts"]["title"] == "Song dQw4w9WgXcQ"
    model = checks["VGGish model"]["facts"]
    assert model["handle"] == str(fake_vggish) and model["shape"] == [1, 128]
    assert checks["PCA parameters"]["facts"]["sha256"].startswith("4d878af3e306")
    assert checks["catalog"]["facts"]["tracks"] > 500
    assert checks["index"]["facts"]["items"] == checks["catalog"]["facts"]["tracks"]
    assert checks["data folder"]["facts"]["free_bytes"] > 0
    assert checks["database"]["facts"]["dialect"] == "sqlite"
    app = application_id(TOKEN)
    assert checks["Discord token"]["facts"]["application_id"] == app == 900000000000000001
    url = checks["invite link"]["facts"]["url"]
    assert f"client_id={app}" in url and "scope=bot+applications.commands" in url
    # view channel, send messages, embed links, add reactions, read message history
    assert checks["invite link"]["facts"]["permissions"] == 1024 + 2048 + 16384 + 64 + 65536
    assert TOKEN not in output and TOKEN.split(".")[2] not in output
    # Music services that do not answer: a warning that says what members will meet.
    code, report, _ = _doctor(
        deployment, **_env(fake_vggish, pca_params, EARSHOT_TEST_MUSIC_BASE="http://127.0.0.1:9")
    )
    music = {c["name"]: c for c in report["checks"]}["music services"]
    assert code == 0 and music["status"] == "warn", music
    assert "Spotify did not answer in time" in music["detail"] and "refused" in music["detail"]
    # Extra owners without a home server would not see /reindex and /stats: a warning.
    _, report, _ = _doctor(deployment, **_env(fake_vggish, pca_params, BOT_ADMINS="4321"))
    owners = {c["name"]: c for c in report["checks"]}["owner commands"]
    assert owners["status"] == "warn" and "OWNER_GUILD_ID" in owners["detail"], owners


def test_the_table_names_each_failed_check_and_the_exit_code_says_so(
    tmp_path: Path, pca_params: Path
) -> None:
    env = _env(
        tmp_path / "no-model-here",
        pca_params,
        DISCORD_TOKEN="not-a-token",
        YTDLP_JS_RUNTIME=f"deno:{tmp_path / 'no-deno'}",
        EARSHOT_TEST_OEMBED_BASE="http://127.0.0.1:9/oembed",  # nothing listens there
    )
    code, report, output = _doctor(tmp_path / "fresh", **env)
    assert code == 1 and not report["ok"]
    assert report["failed"] == [
        "yt-dlp",
        "VGGish model",
        "catalog",
        "index",
        "Discord token",
    ]
    checks = {c["name"]: c["detail"] for c in report["checks"]}
    assert "no usable JavaScript runtime" in checks["yt-dlp"]
    assert str(tmp_path / "no-model-here") in checks["VGGish model"]
    assert "prepare" in checks["catalog"] and "reindex" in checks["index"]
    oembed = next(c for c in report["checks"] if c["name"] == "YouTube oEmbed")
    assert oembed["status"] == "warn" and "without titles" in oembed["detail"]
    assert "not-a-token" not in output
    table = run_cli(tmp_path / "fresh", "doctor", check=False, **env)
    assert table.returncode == 1
    assert "failed: yt-dlp, VGGish model, catalog, index, Discord token" in table.stdout
    assert any(line.startswith("FAIL  VGGish model") for line in table.stdout.splitlines())


async def test_the_database_check_names_the_database_and_hides_its_password(
    tmp_path: Path,
) -> None:
    from recommender.ops.doctor import FAIL, OK, check_database
    from scripts.local_servers import free_port

    local = await check_database(Settings(data_dir=tmp_path))
    assert local.status == OK and local.detail.startswith("SQLite ")
    assert "schema version" in local.detail
    url = f"postgresql://earshot:s3cret@127.0.0.1:{free_port()}/earshot"
    down = await check_database(Settings(data_dir=tmp_path, database_url=url))
    assert down.status == FAIL and "ConnectionRefusedError" in down.detail
    assert "s3cret" not in down.detail and "earshot:***@127.0.0.1" in down.detail
