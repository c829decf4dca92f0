"""The reply's embed within Discord's limits, whatever YouTube's titles look like."""

from __future__ import annotations

import re

from cogs.recommend import render
from recommender.results import Query, Recommendation, RecommendResult


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
    pages = [render(result), render(result, first=11, heading=False)]
    links = []
    for embed in pages:
        assert len(embed) <= 6000 and len(embed.description or "") <= 4096
        links += re.findall(
            r"\]\((https://www\.youtube\.com/watch\?v=vid\d{8}&t=30s)\)", embed.description or ""
        )
    assert len(links) == 20  # no link cut in half, none broken by a title's brackets
    assert "Play all 20" in (pages[0].description or "")
    assert "**11.**" in (pages[1].description or "") and "Play all" not in (
        pages[1].description or ""
    )


def test_a_suggestion_without_a_title_still_shows() -> None:
    item = _item(1, "")
    result = RecommendResult(Query("abcdefghijk", "https://youtu.be/abcdefghijk", "cache"), [item])
    assert "[YouTube video](https://www.youtube.com/watch?v=vid00000001&t=30s)" in (
        render(result).description or ""
    )
