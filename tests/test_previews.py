"""Songs from Deezer and Apple Music (issue 23, step 3): their public endpoints' facts and
30-second previews, against a loopback stand-in in their documented shapes, listened to
by the real workers; and what is refused, whatever those services (or an attacker
between them and earshot) answer."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recommender.engine import Engine
from recommender.sources.previews import PREVIEW_BYTES
from recommender.sources.reference import SongNotFoundError
from recommender.sources.web import (
    ForbiddenAddressError,
    Hosts,
    PublicResolver,
    SourceUnavailableError,
    WebClient,
    _private,
)
from scripts.standins.media import make_song
from scripts.standins.music_apis import MusicApis
from tests.conftest import engine_settings

DEEZER = "https://www.deezer.com/fr/track/3135556"
SPOTIFY_ID = "0DiWol3AO6WpXZgp0goxAV"
SPOTIFY = f"https://open.spotify.com/track/{SPOTIFY_ID}?si=1a2b3c4d5e6f7a8b"
APPLE = "https://music.apple.com/us/album/discovery/697194953?i=697195462"


@pytest.fixture(scope="module")
def previews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("previews")
    make_song(root / "one-more-time.mp3", 30.0, tone=220.0)
    make_song(root / "harder.mp3", 30.0, tone=330.0)
    (root / "huge.mp3").write_bytes(b"\0" * (PREVIEW_BYTES + 1))
    return root


@pytest.fixture()
def apis(previews: Path):
    with MusicApis(previews) as running:
        running.add_deezer("3135556", "One More Time", "Daft Punk", 320, "one-more-time.mp3")
        running.add_apple("697195462", "Harder, Better, Faster, Stronger", "Daft Punk", 224,
                          "harder.mp3")  # fmt: skip
        running.add_spotify(SPOTIFY_ID, "One More Time", ["Daft Punk", "Romanthony"], 320,
                            "one-more-time.mp3")  # fmt: skip
        yield running


@pytest.fixture()
async def engine(
    built_catalog: Path, tmp_path: Path, fake_vggish: Path, pca_params: Path, apis: MusicApis
) -> AsyncIterator[Engine]:
    data = tmp_path / "data"
    shutil.copytree(built_catalog, data)
    settings = engine_settings(
        data_dir=data,
        vggish_model=str(fake_vggish),
        pca_params=pca_params,
        allow_test_hosts=True,
        test_music_base=apis.base,
        request_timeout_s=60.0,
    )
    opened = await Engine.open(settings)
    yield opened
    await opened.close()


async def test_a_deezer_link_is_heard_from_its_preview(engine: Engine, apis: MusicApis) -> None:
    members_before = await engine.store.count_tracks("member")
    result = await engine.recommend(DEEZER, 3)
    q = result.query
    assert (q.source, q.title, q.channel) == ("preview", "One More Time", "Daft Punk")
    assert q.heard_from in ("Deezer preview, 30 s", "Deezer preview, 29 s", "Deezer preview, 31 s")
    assert q.url == "https://www.deezer.com/track/3135556" and q.video_id == "deezer:3135556"
    assert len(result.items) == 3
    assert apis.requests == ["/deezer/track/3135556", "/previews/one-more-time.mp3"]
    again = await engine.recommend(DEEZER, 3)  # from the cache: nothing fetched again
    assert again.query.source == "cache" and len(apis.requests) == 2
    assert [i.video_id for i in again.items] == [i.video_id for i in result.items]
    assert await engine.store.count_tracks("member") == members_before  # not in the catalog
    assert not list((engine.settings.data_dir / "tmp").glob("preview-*"))  # audio deleted


async def test_an_apple_music_link_is_heard_from_its_preview(
    engine: Engine, apis: MusicApis
) -> None:
    result = await engine.recommend(APPLE, 2)
    assert result.query.title == "Harder, Better, Faster, Stronger"
    assert result.query.heard_from.startswith("Apple Music preview, ")
    assert result.query.url == "https://music.apple.com/us/song/697195462"
    assert "&country=us" in apis.queries[0]
    # A song on another storefront is looked up in that store.
    with pytest.raises(SongNotFoundError):
        await engine.recommend("https://music.apple.com/jp/album/x/1?i=1234", 2)
    assert apis.queries[-1].endswith("id=1234&entity=song&country=jp")


async def test_what_the_services_say_no_to_is_said_plainly(engine: Engine, apis: MusicApis) -> None:
    with pytest.raises(SongNotFoundError, match="Deezer has no track 999"):
        await engine.recommend("https://www.deezer.com/track/999", 3)
    with pytest.raises(SongNotFoundError, match="Apple Music has no song 42"):
        await engine.recommend("https://music.apple.com/us/song/x/42", 3)
    apis.add_deezer("7", "Quiet", "Nobody", 200, "")  # and YouTube has no such song either
    with pytest.raises(SongNotFoundError, match="Deezer offers no preview of Quiet — Nobody"):
        await engine.recommend("https://www.deezer.com/track/7", 3)
    apis.status_for["/deezer/track/8"] = 429
    with pytest.raises(SourceUnavailableError, match="Deezer is asking earshot to slow down"):
        await engine.recommend("https://www.deezer.com/track/8", 3)
    apis.status_for["/deezer/track/9"] = 503
    with pytest.raises(SourceUnavailableError, match="Deezer answered 503; try again"):
        await engine.recommend("https://www.deezer.com/track/9", 3)


async def test_a_preview_from_anywhere_else_is_refused(engine: Engine, apis: MusicApis) -> None:
    apis.add_deezer("10", "Elsewhere", "Someone", 200, "one-more-time.mp3")
    apis.deezer["10"]["preview"] = "https://evil.example/one-more-time.mp3"
    with pytest.raises(SourceUnavailableError, match="a host that is not its own"):
        await engine.recommend("https://www.deezer.com/track/10", 3)
    apis.add_deezer("11", "Moved", "Someone", 200, "harder.mp3")
    port = apis.base.rsplit(":", 1)[1]
    apis.redirect_for["/previews/harder.mp3"] = f"http://127.0.0.2:{port}/previews/harder.mp3"
    with pytest.raises(SourceUnavailableError, match="a host that is not its own"):
        await engine.recommend("https://www.deezer.com/track/11", 3)
    apis.add_deezer("12", "Huge", "Someone", 200, "huge.mp3")
    with pytest.raises(SourceUnavailableError, match="sent more than earshot takes"):
        await engine.recommend("https://www.deezer.com/track/12", 3)
    assert "evil.example" not in " ".join(apis.requests)
    assert not list((engine.settings.data_dir / "tmp").glob("preview-*/*"))


async def test_a_name_that_resolves_into_this_machine_is_never_reached() -> None:
    resolver = PublicResolver()
    try:
        with pytest.raises(ForbiddenAddressError):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


async def test_a_spotify_link_is_heard_from_its_embed_pages_preview(
    engine: Engine, apis: MusicApis
) -> None:
    result = await engine.recommend(SPOTIFY, 3)
    q = result.query
    assert (q.title, q.channel) == ("One More Time", "Daft Punk, Romanthony")
    assert q.heard_from.startswith("Spotify preview, ") and q.video_id == f"spotify:{SPOTIFY_ID}"
    assert q.url == f"https://open.spotify.com/track/{SPOTIFY_ID}"
    assert apis.requests == [f"/spotify/embed/track/{SPOTIFY_ID}", "/previews/one-more-time.mp3"]
    assert len(result.items) == 3


async def test_when_spotifys_page_changes_shape_its_oembed_names_the_song(
    engine: Engine, apis: MusicApis, caplog: pytest.LogCaptureFixture
) -> None:
    """The embed page is not an API: when its data is gone, oEmbed still gives the title,
    the log says why, and the song is looked for on YouTube by that title (which the
    stand-in's search does not have)."""
    apis.spotify_page_changed = True
    with pytest.raises(SongNotFoundError, match="Spotify offers no preview of One More Time"):
        await engine.recommend(SPOTIFY, 3)
    assert "has no track data in the shape earshot reads" in caplog.text
    assert apis.requests[-1] == "/spotify/oembed"
    with pytest.raises(SongNotFoundError):
        await engine.recommend("spotify:track:0000000000000000000000", 3)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("10.0.0.5", True),
        ("100.64.0.1", True),  # carrier-grade NAT (Tailscale and the like)
        ("169.254.169.254", True),  # a cloud's metadata address
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("2002:7f00:1::", True),  # 6to4 wrapping 127.0.0.1
        ("::ffff:127.0.0.1", True),
    ],
)
def test_only_global_addresses_are_public(address: str, private: bool) -> None:
    assert _private(address) is private


async def test_a_fetch_to_a_name_that_resolves_here_says_so() -> None:
    """Through the client as it runs outside tests: the resolver's refusal reaches the
    member as what it is, not as a time-out."""
    hosts = Hosts(frozenset({"localhost"}))
    async with WebClient("Deezer") as client:
        with pytest.raises(SourceUnavailableError, match="pointed earshot at a private address"):
            await client.json("https://localhost/track/1", hosts)
