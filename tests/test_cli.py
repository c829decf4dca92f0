"""The operator CLI end to end on a slice of the real AudioSet sample."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.standins.cli import ROOT, cli_env, run_cli, run_json
from scripts.standins.http_range import RangeServer


@pytest.fixture(scope="module")
def built(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slice ingested and indexed through this CLI (the session's shared catalog)."""
    data = tmp_path_factory.mktemp("cli") / "data"
    shutil.copytree(built_catalog, data)
    return data


def _music_video(data: Path, offset: int = 0) -> str:
    with sqlite3.connect(data / "earshot.sqlite3") as db:
        return db.execute(
            "SELECT video_id FROM tracks WHERE source = 'bal_train' ORDER BY id LIMIT 1 OFFSET ?",
            (offset,),
        ).fetchone()[0]


def test_every_subcommand_has_help(tmp_path: Path) -> None:
    for command in ("ingest", "reindex", "recommend", "evaluate", "stats"):
        result = run_cli(tmp_path, command, "--help")
        assert "usage: python -m recommender " + command in result.stdout


def test_empty_data_dir_says_what_to_run(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "recommend", "dQw4w9WgXcQ", check=False)
    assert result.returncode == 1
    assert "error: earshot is still preparing its catalog" in result.stderr
    assert "to fix: the catalog is empty: run `python -m recommender prepare`" in result.stderr
    result = run_cli(tmp_path, "reindex", check=False)
    assert result.returncode == 1 and "catalog is empty" in result.stderr
    assert "Traceback" not in result.stderr
    stats = run_json(tmp_path, "stats")
    assert stats["tracks"] == 0 and stats["index"] is None


def test_ingest_keeps_music_and_reruns_add_nothing(built: Path, audioset_slice: Path) -> None:
    stats = run_json(built, "stats")
    assert 500 < stats["tracks"] < 1500
    assert stats["ingest"]["files"] == 400
    assert stats["ingest"]["non_music_skipped"] > 0
    again = run_cli(built, "ingest", "--audioset", str(audioset_slice))
    assert "0 music clips added" in again.stdout and "400 already in" in again.stdout
    assert run_json(built, "stats")["tracks"] == stats["tracks"]


def test_stats_after_reindex(built: Path) -> None:
    stats = run_json(built, "stats")
    assert stats["indexed"] == stats["tracks"]
    meta = stats["index"]
    assert meta["count"] == stats["tracks"] and meta["trees"] == 10
    assert meta["vector_version"].startswith("earshot-v1")
    assert meta["built_at"] <= time.time()


def test_recommend_a_catalog_clip(built: Path) -> None:
    video = _music_video(built, 7)
    result = run_json(built, "recommend", f"https://youtu.be/{video}", "--count", "8")
    assert result["query"]["video_id"] == video and result["query"]["source"] == "catalog"
    items = result["items"]
    assert len(items) == 8
    videos = [item["video_id"] for item in items]
    assert video not in videos and len(set(videos)) == len(videos)
    for item in items:
        assert item["url"].startswith(f"https://www.youtube.com/watch?v={item['video_id']}")
        if item["start_s"]:
            assert item["url"].endswith(f"&t={int(item['start_s'])}s")
        assert item["labels"] and isinstance(item["score"], float)
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    too_many = run_cli(built, "recommend", "--count", "21", "--", video, check=False)
    assert too_many.returncode == 1 and "Ask for 1 to 20 suggestions, not 21" in too_many.stderr
    text = run_cli(built, "recommend", "--count", "3", "--", video).stdout
    assert text.count("https://www.youtube.com/watch?v=") == 4


def test_recommend_refuses_unavailable_and_bad_input(
    built: Path, pca_params: Path, fake_vggish: Path, tmp_path: Path
) -> None:
    with RangeServer(tmp_path) as empty:  # YouTube stand-in that has no such video
        result = run_cli(
            built,
            "recommend",
            "zzzzzzzzz00",
            check=False,
            VGGISH_PCA_PARAMS=str(pca_params),
            VGGISH_MODEL=str(fake_vggish),
            EARSHOT_TEST_ALLOW_LOOPBACK="1",
            EARSHOT_TEST_MEDIA_BASE=empty.url(""),
        )
    assert result.returncode == 1 and "That video is unavailable" in result.stderr
    result = run_cli(built, "recommend", "https://evil.example/watch?v=zzzzzzzzzzz", check=False)
    assert result.returncode == 1 and "is not a music service earshot knows" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_file_is_reported_and_the_rest_goes_in(
    audioset_slice: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "audioset"
    shutil.copytree(audioset_slice, folder)
    files = sorted((folder / "audioset_v1_embeddings" / "bal_train").glob("*.tfrecord"))
    broken = files[3]
    data = bytearray(broken.read_bytes())
    data[200] ^= 0xFF
    broken.write_bytes(bytes(data))
    result = run_cli(tmp_path / "data", "ingest", "--audioset", str(folder))
    assert f"problem: bal_train/{broken.name}" in result.stderr
    assert "1 files had unreadable records" in result.stderr
    stats = run_json(tmp_path / "data", "stats")
    assert stats["ingest"]["files"] == 400 and stats["ingest"]["files_with_problems"] == 1
    assert stats["tracks"] > 500


def test_ingest_killed_midway_resumes_without_duplicates(
    audioset_slice: Path, built: Path, tmp_path: Path
) -> None:
    expected = run_json(built, "stats")["tracks"]
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "recommender", "ingest", "--audioset", str(audioset_slice)],
        cwd=ROOT,
        env=cli_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    database = data / "earshot.sqlite3"
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and done < 50:
        time.sleep(0.05)
        if database.exists():
            try:
                with sqlite3.connect(database, timeout=1) as db:
                    done = db.execute("SELECT COUNT(*) FROM ingested_files").fetchone()[0]
            except sqlite3.OperationalError:
                continue
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < done < 400, "the ingest was not caught midway"
    run_cli(data, "ingest", "--audioset", str(audioset_slice))
    with sqlite3.connect(database) as db:
        total, distinct = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT video_id || ':' || start_s) FROM tracks"
        ).fetchone()
    assert total == distinct == expected


def test_prepare_does_each_missing_step_once(
    audioset_slice: Path, fake_vggish: Path, pca_params: Path, tmp_path: Path
) -> None:
    env = {
        "AUDIOSET_DIR": str(audioset_slice),
        "VGGISH_MODEL": str(fake_vggish),
        "VGGISH_PCA_PARAMS": str(pca_params),
    }
    first = run_cli(tmp_path, "prepare", **env)
    assert "step 1/3" in first.stdout and "step 2/3" in first.stdout
    assert "step 3/3" in first.stdout and "index built" in first.stdout
    again = run_cli(tmp_path, "prepare", **env)
    assert "step" not in again.stdout
    assert "already fetched" in again.stdout and "index: already built" in again.stdout
    assert run_json(tmp_path, "stats")["indexed"] > 500
