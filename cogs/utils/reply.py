"""What /recommend's reply reads like: one embed per message of up to ten suggestions.

Made to be taken in at a glance on a phone: each suggestion is two lines, its title (the
link) with channel and moment, then its few most telling labels and, only where there is
one, the reason that the labels do not give. Every message numbers its suggestions from
1, as its reactions do. Text from YouTube is escaped; anything shortened is cut between
words, and no markup is left open."""

from __future__ import annotations

import discord

from recommender.results import Recommendation, RecommendResult
from recommender.song_keys import SOURCE_NAMES, split_key

from .reactions import DISLIKE_EMOJI, NUMBER_EMOJI

PER_MESSAGE = len(NUMBER_EMOJI)  # suggestions per message, each with its own reaction
LABELS_SHOWN = 3  # per suggestion, and for the song asked about
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
EMBED_LIMIT = 6000
LEARNS = "earshot learns from your ratings."


def pages(result: RecommendResult) -> int:
    return max(1, -(-len(result.items) // PER_MESSAGE))


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:·-—") + "…"


def plain(text: str, limit: int) -> str:
    """Text from YouTube, shortened, then made inert inside a markdown link."""
    text = shorten(text.replace("[", "(").replace("]", ")"), limit)
    return discord.utils.escape_markdown(text)


def untitled(key: str) -> str:
    """A suggestion whose title is not known yet, named by where it plays."""
    source = split_key(key)[0]
    return "A YouTube video" if source == "youtube" else f"A {SOURCE_NAMES[source]} track"


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def footer(suggestions: int) -> str:
    """Names exactly the reactions the message has."""
    if suggestions == 0:
        return ""
    if suggestions == 1:
        return f"React {NUMBER_EMOJI[0]} if you like it, {DISLIKE_EMOJI} if it missed. {LEARNS}"
    return (
        f"React {NUMBER_EMOJI[0]}–{NUMBER_EMOJI[suggestions - 1]} to like a suggestion, "
        f"{DISLIKE_EMOJI} if the others missed. {LEARNS}"
    )


NOT_IT = "Not the song you meant? Paste its link instead."


PRIVATE = (
    "Only you can see this. To post an answer the channel can rate, use /recommend with share."
)


def render(result: RecommendResult, page: int = 1, *, private: bool = False) -> discord.Embed:
    """The embed of message ``page`` (from 1) of the reply; ``private``: an ephemeral
    answer, which cannot carry rating reactions."""
    query, total = result.query, pages(result)
    song = query.title or "this song"
    where = f" (page {page} of {total})" if total > 1 else ""
    lead, with_song = ("Sounds like:" if page == 1 else "More like:"), True
    if query.described:  # /discover: what was looked for, and the song it started from
        lead = f"{'Looked for' if page == 1 else 'More of'}: {plain(query.described, 120)}"
        with_song = bool(query.video_id or query.title)
        lead += ", like" if with_song else ""
    room = min(TITLE_LIMIT - len(f"{lead} {where}"), 150)
    title = f"{lead} {plain(song, room)}{where}" if with_song else f"{lead}{where}"
    while len(title) > TITLE_LIMIT:  # escaping can double a title full of markup
        room -= 20
        title = f"{lead} {plain(song, room)}{where}"
    embed = discord.Embed(title=title, url=query.url or None, colour=discord.Colour.blurple())
    lines: list[str] = []
    if page == 1:
        about = " · ".join((query.labels or query.tags)[:LABELS_SHOWN])
        by = f"by {plain(query.channel, 60)}" if query.channel else ""
        if by or about:
            lines.append(" — ".join(part for part in (by, about) if part))
        if query.heard_from:  # not YouTube: say what was listened to
            lines.append(f"Heard: {plain(query.heard_from, 110)}")
        if query.searched:
            lines.append(f"*{NOT_IT}*")
        if result.play_all_url:
            playable = len(result.play_all)
            lines.append(f"[▶ Play all {playable} as one YouTube queue]({result.play_all_url})")
        if result.shortfall:
            lines.append(f"*Only {len(result.items)} this time: {result.shortfall}.*")
    items = result.items[(page - 1) * PER_MESSAGE : page * PER_MESSAGE]
    if not items:
        lines.append("No suggestions found. Try another song.")
    for limits in SIZES:  # the first that fits Discord's limit, even for escaped titles
        description = "\n".join(lines + _suggestions(items, *limits))
        if len(description) <= DESCRIPTION_LIMIT:
            break
    embed.description = description
    embed.set_footer(text=PRIVATE if private else footer(len(items)))
    assert len(embed.description) <= DESCRIPTION_LIMIT and len(embed) <= EMBED_LIMIT
    return embed


# Characters for a title, a channel and a line of labels and reasons, widest first.
SIZES = ((90, 40, 120), (50, 24, 60), (24, 0, 0))


def _suggestions(items: list[Recommendation], title: int, channel: int, detail: int) -> list[str]:
    lines = []
    for n, item in enumerate(items, 1):
        name = plain(item.title, title) if item.title else untitled(item.video_id)
        by = f" — {plain(item.channel, channel)}" if item.channel and channel else ""
        when = f" · from {clock(item.start_s)}" if item.start_s else ""
        note = f" · *{item.link_note}*" if item.link_note else ""  # the link is a search
        lines.append(f"**{n}.** [{name}]({item.url}){by}{when}{note}")
        labels = " · ".join(item.labels[:LABELS_SHOWN])
        why = "; ".join(item.reasons)
        parts = [discord.utils.escape_markdown(shorten(labels, detail))] if labels else []
        if why:
            parts.append(f"*{discord.utils.escape_markdown(shorten(why, detail))}*")
        if parts and detail:
            lines.append(" — ".join(parts))
    return lines
