"""yt-dlp for real, against an HTTP server on 127.0.0.1 serving real audio files."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import yt_dlp
from yt_dlp.utils import DownloadError

from recommender.errors import DiskFullError, EarshotError
from recommender.listening.audio import SAMPLE_RATE, decode, ffmpeg_folder, ffmpeg_path
from recommender.sources.youtube import (
    FetchOptions,
    LiveStreamError,
    VideoInfo,
    VideoTooLongError,
    VideoUnavailableError,
    _params,
    check_playable,
    choose_sections,
    download_sections,
    js_runtime,
    probe,
    ytdlp_environment,
)
from scripts.standins.http_range import RangeServer
from scripts.standins.media import FORMATS, make_song

SONG_SECONDS = 40.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    for i, extension in enumerate(sorted(FORMATS)):
        make_song(root / f"song{i}{extension:>0{11 - 5}}.{extension}", SONG_SECONDS)
    return root


def _video_id(media: Path, extension: str) -> str:
    return next(media.glob(f"*.{extension}")).stem


@pytest.fixture()
def server(media: Path):
    with RangeServer(media) as running:
        yield running


def _options(server: RangeServer, tmp_path: Path, **changes: object) -> FetchOptions:
    ffmpeg = ffmpeg_path()
    options = FetchOptions(
        ffmpeg=ffmpeg,
        ffmpeg_location=str(ffmpeg_folder(ffmpeg, tmp_path / "bin")),
        max_video_seconds=3600,
        section_seconds=10,
        section_count=2,
        max_bytes=20_000_000,
        test_media_base=server.url(""),
    )
    return dataclasses.replace(options, **changes)


def test_probe_reads_metadata_without_downloading(
    server: RangeServer, media: Path, tmp_path: Path
) -> None:
    video = _video_id(media, "mp3")
    info = probe(video, _options(server, tmp_path))
    assert info.video_id == video and info.info["ext"] == "mp3"
    assert not list(tmp_path.glob("**/*.mp3"))


@pytest.mark.parametrize("extension", sorted(FORMATS))
def test_sections_download_and_decode(
    extension: str, server: RangeServer, media: Path, tmp_path: Path
) -> None:
    options = _options(server, tmp_path)
    info = probe(_video_id(media, extension), options)
    # The generic extractor cannot know the length; YouTube's does. Give it, as YouTube would.
    info = dataclasses.replace(
        info, duration_s=SONG_SECONDS, info={**info.info, "duration": SONG_SECONDS}
    )
    folder = tmp_path / "job"
    folder.mkdir()
    files = download_sections(info, options, folder)
    assert len(files) == 2
    for path in files:
        seconds = len(decode(path, options.ffmpeg)) / SAMPLE_RATE
        # A stream copy starts at the seek point before the section: in WebM, the start of
        # its cluster (up to 5 s of audio apiece); the worker decodes only what it needs.
        longest = 15.5 if extension == "webm" else 11.5
        assert 9.0 <= seconds <= longest, (path.name, seconds)
    # Only sections crossed the wire: ranged reads, never the whole file in one go.
    whole = next(media.glob(f"*.{extension}")).stat().st_size
    assert sum(p.stat().st_size for p in files) < whole


def test_unknown_length_downloads_one_bounded_section(
    server: RangeServer, media: Path, tmp_path: Path
) -> None:
    options = _options(server, tmp_path, section_seconds=8, section_count=2)
    info = probe(_video_id(media, "ogg"), options)
    folder = tmp_path / "job"
    folder.mkdir()
    (path,) = download_sections(info, options, folder)
    assert len(decode(path, options.ffmpeg)) / SAMPLE_RATE == pytest.approx(16, abs=1.0)


def test_byte_limit_caps_each_section(server: RangeServer, media: Path, tmp_path: Path) -> None:
    options = _options(server, tmp_path, max_bytes=200_000, section_seconds=30, section_count=1)
    info = probe(_video_id(media, "wav"), options)  # wav: 176 kB per second
    folder = tmp_path / "job"
    folder.mkdir()
    (path,) = download_sections(info, options, folder)
    assert path.stat().st_size <= 200_000 + 64 * 1024


def test_missing_video_is_unavailable(server: RangeServer, tmp_path: Path) -> None:
    with pytest.raises(VideoUnavailableError, match="unavailable"):
        probe("nothinghere", _options(server, tmp_path))


def test_production_settings_refuse_anything_but_youtube(
    server: RangeServer, media: Path, tmp_path: Path
) -> None:
    params = _params(_options(server, tmp_path, test_media_base=None))
    assert params["allowed_extractors"] == [r"youtube$", r"youtube:tab$"]
    url = server.url(next(media.glob("*.mp3")).name)
    with (
        yt_dlp.YoutubeDL(params) as ydl,
        pytest.raises(DownloadError, match="No suitable extractor"),
    ):
        ydl.extract_info(url, download=False)
    assert not server.requests  # nothing was fetched


def test_test_media_base_must_be_loopback(server: RangeServer, tmp_path: Path) -> None:
    options = _options(server, tmp_path, test_media_base="http://example.com/")
    with pytest.raises(EarshotError, match=r"127\.0\.0\.1"):
        _params(options)


def _info(**fields: object) -> VideoInfo:
    return VideoInfo("abcdefghijk", "t", "c", fields.get("duration"), dict(fields))  # type: ignore[arg-type]


def test_live_and_overlong_videos_are_refused() -> None:
    with pytest.raises(LiveStreamError, match="live stream"):
        check_playable(_info(is_live=True, live_status="is_live"), 3600)
    with pytest.raises(VideoTooLongError, match=r"1:00:01 long.*up to 1:00:00"):
        check_playable(_info(duration=3601.0), 3600)
    with pytest.raises(VideoUnavailableError, match="private"):
        check_playable(_info(availability="private"), 3600)
    check_playable(_info(duration=200.0, live_status="was_live"), 3600)


def test_yt_dlp_gets_the_deno_installed_with_earshot_and_no_remote_code(
    server: RangeServer, tmp_path: Path
) -> None:
    name, path = js_runtime()
    assert name == "deno" and path and Path(path).is_file()
    params = _params(_options(server, tmp_path, js_runtime=(name, path), test_media_base=None))
    assert params["js_runtimes"] == {"deno": {"path": path}}
    assert params["remote_components"] == []
    assert "no_warnings" not in params  # its warnings reach earshot's log
    assert js_runtime("node:/usr/bin/node") == ("node", "/usr/bin/node")


def test_yt_dlp_itself_reports_deno_and_the_solver(server: RangeServer, tmp_path: Path) -> None:
    """What ``yt-dlp -v`` prints, asked of yt-dlp with earshot's own options."""
    seen = ytdlp_environment(_options(server, tmp_path, js_runtime=js_runtime()))
    assert seen.js_runtimes.startswith("deno-2."), seen
    assert seen.ejs_version and seen.ejs_version[0].isdigit(), seen
    assert seen.version == yt_dlp.version.__version__
    missing = ytdlp_environment(
        _options(server, tmp_path, js_runtime=("deno", str(tmp_path / "no-deno-here")))
    )
    assert missing.js_runtimes == "none"


def test_sections_spread_over_the_song() -> None:
    assert choose_sections(None, 30, 2) == [(0.0, 60.0)]
    assert choose_sections(45, 30, 2) == [(0.0, 45.0)]
    assert choose_sections(300, 30, 2) == [(85.0, 115.0), (185.0, 215.0)]
    assert all(end <= 61 for _, end in choose_sections(61, 30, 2))
    # A member who linked to a moment: one stretch from there, inside the song.
    assert choose_sections(300, 30, 2, start_s=42) == [(42.0, 102.0)]
    assert choose_sections(300, 30, 2, start_s=280) == [(240.0, 300.0)]
    assert choose_sections(None, 30, 2, start_s=42) == [(42.0, 102.0)]
    assert choose_sections(45, 30, 2, start_s=10) == [(0.0, 45.0)]


def test_yt_dlp_warnings_reach_the_log_at_warning(
    server: RangeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "recommender.sources.youtube")
    seen = ytdlp_environment(_options(server, tmp_path, js_runtime=("rhino", None)))
    assert seen.js_runtimes.startswith("none")
    warnings = [r for r in caplog.records if r.name == "recommender.sources.youtube"]
    assert any(
        r.levelno == logging.WARNING
        and "Ignoring unsupported JavaScript runtime(s): rhino" in r.getMessage()
        for r in warnings
    ), [r.getMessage() for r in warnings]


def test_no_space_for_the_download_blames_the_disk_not_the_video(
    server: RangeServer, tmp_path: Path, small_disk, caplog: pytest.LogCaptureFixture
) -> None:
    options = _options(server, tmp_path)
    info = probe(_video_id(server.root, "mp3"), options)
    disk = small_disk(512 * 1024)
    disk.fill()
    with caplog.at_level(logging.WARNING, "recommender"), pytest.raises(DiskFullError) as full:
        download_sections(info, options, disk.path)
    assert str(full.value) == DiskFullError.LISTENING
    assert full.value.operator_hint.startswith(f"the disk holding {disk.path} (")
    assert "refused" not in caplog.text  # YouTube did nothing wrong
    disk.free()
    assert download_sections(info, options, disk.path)  # and with room, the same works
