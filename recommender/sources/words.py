"""A song named in words ("daft punk one more time"): the words to search for, and how
to choose the song among the search's results, by spotDL's rules (``spotdl/utils/
matching.py``): the asked words must be there, words that mark another version (live,
cover, slowed, nightcore, a one-hour loop…) cost a result unless asked for, official
uploads ("- Topic" channels, YouTube Music's songs) are preferred, and a result far from
the song's known length is another cut."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .reference import SongRef
from .urls import BadLink

MAX_WORDS_LENGTH = 200


def parse(text: str) -> SongRef:
    words = " ".join(text.split())
    if any(unicodedata.category(c) == "Cc" for c in words):
        raise BadLink("the words contain control characters")
    if not any(c.isalnum() for c in words):
        raise BadLink("that names no song: give its name and artist, or a link")
    if len(words) > MAX_WORDS_LENGTH:
        raise BadLink(f"that is longer than {MAX_WORDS_LENGTH} characters for a song's name")
    return SongRef("words", words, "")


# --- choosing the song among search results ----------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One search result, as yt-dlp lists it."""

    title: str
    channel: str
    duration_s: float | None
    song: bool = False  # from YouTube Music's "songs" results (an official audio upload)
    video_id: str = ""


@dataclass(frozen=True)
class Wanted:
    """What the member asked for: their words, and what another source said of the song
    when it is known (a Spotify or Deezer track searched for on YouTube)."""

    words: str
    title: str = ""
    artist: str = ""
    duration_s: float | None = None


# Words that mark another version of a song; they cost a result unless asked for.
OTHER_VERSIONS = (
    "live", "remix", "cover", "slowed", "reverb", "sped up", "speed up", "nightcore",
    "karaoke", "instrumental", "acoustic", "acapella", "a cappella", "8d", "bass boosted",
    "1 hour", "10 hours", "hour loop", "loop", "extended", "mashup", "reaction", "tutorial",
    "lesson", "how to play", "piano version", "guitar cover", "drum cover", "bass cover",
    "chopped", "screwed", "daycore", "lofi", "lo fi", "orchestral", "demo",
    "concert", "unplugged", "rehearsal", "fan made", "edit", "mix",
)  # fmt: skip
# Words a title carries beside the song's name without making it another song.
_NEUTRAL = frozenset(
    {
        "official", "audio", "video", "music", "lyrics", "lyric", "hd", "hq", "4k",
        "remastered", "ft", "feat", "featuring", "with", "the", "a", "and", "of", "topic",
        "visualizer", "clip", "videoclip", "mv", "full", "song", "single", "album",
        "remaster", "original", "mono", "stereo", "explicit", "clean", "radio",
    }
)  # fmt: skip
AUDIO_UPLOAD = ("official audio", "audio", "visualizer")  # the song alone, as released
MUSIC_VIDEO = ("official music video", "official video", "music video")  # often an intro
MIN_COVERAGE = 0.6  # of the asked words a result must carry (title and channel together)
COVERAGE_POINTS = 60.0  # a "- Topic" upload often leaves featured artists out
BRACKETED_WORD = 25.0  # an unasked word in brackets: "(Quiet)", "(Jazz Version)"
LENGTH_SLACK_S = 20.0  # beyond this, and 15% of the song, a result is another cut


def _tokens(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return re.findall(r"[a-z0-9]+", plain.replace("&", " and "))


def _phrase_in(phrase: str, tokens: list[str]) -> bool:
    words = phrase.split()
    return any(tokens[i : i + len(words)] == words for i in range(len(tokens)))


FEATURING = re.compile(r"\b(?:feat|ft|featuring|with)\b\.?.*", re.I)
PLAIN_VERSIONS = ("album version", "original version", "single version", "radio version")


def _bracketed(title: str) -> set[str]:
    """Words in a title's brackets, but for featured artists and plain release names:
    "(Quiet)", "(12" Version)" say another version; "(feat. X)", "(Album Version)" do not."""
    inside = []
    for part in re.findall(r"[(\[]([^)\]]*)[)\]]", title):
        part = FEATURING.sub("", part)
        plain = " ".join(_tokens(part))
        if not any(version in plain for version in PLAIN_VERSIONS):
            inside.append(part)
    return set(_tokens(" ".join(inside)))


def score(candidate: Candidate, wanted: Wanted) -> float | None:
    """How likely a result is the song asked for (higher is better); None when it is
    surely not: too few of the asked words, or far from the song's known length."""
    asked = _tokens(wanted.words or f"{wanted.title} {wanted.artist}")
    channel = re.sub(r"\s*-\s*topic$", "", candidate.channel.strip(), flags=re.I)
    title_tokens = _tokens(candidate.title)
    here = set(title_tokens) | set(_tokens(channel))
    if not asked:
        return None
    coverage = sum(1 for t in asked if t in here) / len(asked)
    if coverage < MIN_COVERAGE:
        return None
    points = COVERAGE_POINTS * coverage
    if wanted.title:
        wanted_title = set(_tokens(wanted.title))
        points += 30.0 * len(wanted_title & set(title_tokens)) / max(len(wanted_title), 1)
    if wanted.artist and set(_tokens(wanted.artist)) <= here:
        points += 20.0
    for marker in OTHER_VERSIONS:
        if _phrase_in(marker, title_tokens) and not _phrase_in(marker, asked):
            points -= 45.0
    # Words the member did not ask for: another song's, or in brackets, another version's.
    known = set(asked) | set(_tokens(channel)) | _NEUTRAL
    bracketed = _bracketed(candidate.title)
    for token in title_tokens:
        if token not in known and not token.isdigit():
            points -= BRACKETED_WORD if token in bracketed else 2.0
    if candidate.song or candidate.channel.strip().lower().endswith("- topic"):
        points += 25.0
    elif any(_phrase_in(phrase, title_tokens) for phrase in AUDIO_UPLOAD):
        points += 15.0
    elif any(_phrase_in(phrase, title_tokens) for phrase in MUSIC_VIDEO):
        points += 5.0
    length = candidate.duration_s
    if wanted.duration_s and length:
        off = abs(length - wanted.duration_s)
        if off > max(LENGTH_SLACK_S, 0.15 * wanted.duration_s):
            return None
        points -= off / 2
    elif length and (length > 12 * 60 or length < 45):
        points -= 40.0  # a loop, a compilation or a snippet
    return points


def choose(candidates: list[Candidate], wanted: Wanted) -> Candidate | None:
    """The result most likely to be the song asked for; None when none is."""
    scored = [(score(c, wanted), n, c) for n, c in enumerate(candidates)]
    kept = [(s, n, c) for s, n, c in scored if s is not None]
    if not kept:
        return None
    return max(kept, key=lambda k: (k[0], -k[1]))[2]
