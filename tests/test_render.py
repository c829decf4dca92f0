"""The reply's embed within Discord's limits, whatever YouTube's titles look like."""

from __future__ import annotations

import dataclasses
import re

from cogs.utils.reply import render, shorten
from recommender.ranking.presentation import with_song
from recommender.results import Query, Recommendation, RecommendResult
from recommender.song_facts import Song


def _item(n: int, title: str) -> Recommendation:
    video = f"vid{n:08d}"
    return Recommendation(
        n,
        video,
        30.0,
        f"https://www.youtube.com/watch?v={video}&t=30s",
        ["Rock music", "Electric guitar", "Happy music"],
        1.0,
        0.6,
        0.9,
        ["rock music", "sounds alike"],
        title=title,
        channel="A channel " * 8,
        live=True,
    )


def test_twenty_long_titles_fit_with_every_link_whole() -> None:
    nasty = "[Official] **Video** _of_ a song | with `markup` ]( and a very long name " * 4
    result = RecommendResult(
        Query(
            "abcdefghijk",
            "https://www.youtube.com/watch?v=abcdefghijk",
            "catalog",
            title=nasty,
            channel="Someone",
        ),
        [_item(n, nasty) for n in range(20)],
    )
    pages = [render(result, 1), render(result, 2)]
    links = []
    for embed in pages:
        assert len(embed) <= 6000 and len(embed.description or "") <= 4096
        links += re.findall(
            r"\]\((https://www\.youtube\.com/watch\?v=vid\d{8}&t=30s)\)", embed.description or ""
        )
    assert len(links) == 20  # no link cut in half, none broken by a title's brackets
    assert "Play all 20" in (pages[0].description or "")
    later = pages[1].description or ""
    assert later.startswith("**1.**") and "**11.**" not in later and "Play all" not in later
    assert "(page 2 of 2)" in (pages[1].title or "")
    # The song's own title is escaped in the embed's title too: no markup from YouTube.
    assert "**Video**" not in (pages[0].title or "") and "\\*\\*Video\\*\\*" in (
        pages[0].title or ""
    )
    for embed in pages:
        for line in (embed.description or "").splitlines():
            bare = re.sub(r"\\.", "", line)  # escaped characters are text, not markup
            assert bare.count("*") % 2 == 0 and bare.count("`") == 0, line


def test_a_suggestion_without_a_title_still_shows() -> None:
    item = _item(1, "")
    result = RecommendResult(Query("abcdefghijk", "https://youtu.be/abcdefghijk", "cache"), [item])
    assert "[A YouTube video](https://www.youtube.com/watch?v=vid00000001&t=30s)" in (
        render(result).description or ""
    )


def test_a_soundcloud_suggestion_links_to_its_own_page_and_stays_out_of_play_all() -> None:
    track = dataclasses.replace(
        _item(1, ""), video_id="soundcloud:forss/flickermood",
        url="https://soundcloud.com/forss/flickermood",
    )  # fmt: skip
    result = RecommendResult(
        Query("abcdefghijk", "https://youtu.be/abcdefghijk", "cache"),
        [track, _item(2, "Two"), _item(3, "Three")],
    )
    text = render(result).description or ""
    assert "**1.** [A SoundCloud track](https://soundcloud.com/forss/flickermood)" in text
    assert "[▶ Play all 2 as one YouTube queue]" in text
    assert result.play_all_url is not None and "soundcloud" not in result.play_all_url


def test_a_library_song_reads_artist_and_title_with_its_album_and_says_a_search_is_its_link() -> (
    None
):
    found = Song("song:0123456789abcdef", "folder", "/m/x.flac", "Nina Simone", "Sinnerman",
                 "Pastel Blues", 622.0, "")  # fmt: skip
    base = dataclasses.replace(_item(1, ""), video_id=found.key, start_s=0.0, url="", live=False)
    song = with_song(base, found)
    linked = with_song(base, dataclasses.replace(found, video_id="gxUzrrI5zW0"))
    result = RecommendResult(
        Query("abcdefghijk", "https://youtu.be/abcdefghijk", "cache"), [song, linked]
    )
    lines = (render(result).description or "").splitlines()
    assert lines[0] == (
        "**1.** [Nina Simone — Sinnerman](https://music.youtube.com/search?q=Nina+Simone+Sinnerman)"
        " — Pastel Blues · *no video found: a YouTube Music search*"
    )
    assert lines[2] == (
        "**2.** [Nina Simone — Sinnerman](https://www.youtube.com/watch?v=gxUzrrI5zW0)"
        " — Pastel Blues"
    )
    assert result.play_all_url is None  # a song is keyed by itself, not by a video


def test_a_shortened_text_ends_between_words() -> None:
    title = "Dolly Parton - Jolene (Official Audio) from the album Jolene, remastered 2024"
    for limit in range(10, len(title)):
        short = shorten(title, limit)
        assert len(short) <= limit and short.endswith("…")
        kept = short[:-1]
        assert title.startswith(kept) and title[len(kept)] in " ,-(", (limit, short)


def test_a_suggestion_reads_in_two_lines_with_few_labels_and_reasons_that_add() -> None:
    item = _item(1, "Jolene")
    many = ["Country", "Bluegrass", "Acoustic guitar", "Banjo", "Happy music", "Strum"]
    item = Recommendation(
        **{**item.__dict__, "labels": many, "reasons": ["liked by 2 members here"]}
    )
    result = RecommendResult(Query("abcdefghijk", "https://youtu.be/abcdefghijk", "cache"), [item])
    lines = (render(result).description or "").splitlines()
    assert lines[0].startswith("**1.** [Jolene](")
    assert lines[1] == "Country · Bluegrass · Acoustic guitar — *liked by 2 members here*"


def test_a_title_of_markup_still_fits_discords_title_limit() -> None:
    song = "_*" * 150  # every character escaped doubles it
    result = RecommendResult(
        Query("deezer:1", "https://www.deezer.com/track/1", "preview", title=song), []
    )
    assert len(render(result).title or "") <= 256
