"""The words a member may describe a sound with: the catalog's genres, instruments and
moods (AudioSet's own names), each also known by the shorter or commoner words members
type ("sad" for "Sad music", "hip hop" for "Hip hop music", "rnb" for "Rhythm and
blues"). Matches as a member types, for autocomplete; reads back what they chose."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from ..errors import EarshotError

KINDS = ("genre", "instrument", "mood")
DESCRIBE_SOMETHING = (
    "Describe the sound with at least one of genre, instrument or mood (pick from the "
    "list as you type), and if you like, a song to start from."
)
CHOICES = 25  # Discord shows at most 25 autocomplete choices

# Commoner words for AudioSet's names (beyond those read from the names themselves).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "Hip hop music": ("rap", "hiphop", "hip-hop"),
    "Rhythm and blues": ("rnb", "r&b", "r and b"),
    "Electronic dance music": ("edm", "dance"),
    "Drum and bass": ("dnb", "d&b", "jungle"),
    "Heavy metal": ("metal",),
    "Punk rock": ("punk",),
    "Rock and roll": ("rock n roll", "rock'n'roll"),
    "Country": ("country music",),
    "Classical music": ("orchestral",),
    "Music of Latin America": ("latin",),
    "Music of Africa": ("african",),
    "Music of Asia": ("asian",),
    "Music of Bollywood": ("bollywood", "indian film"),
    "Middle Eastern music": ("arabic",),
    "Electronica": ("idm",),
    "Ambient music": ("chill", "chillout"),
    "New-age music": ("new age", "meditation"),
    "Christian music": ("worship",),
    "Independent music": ("indie",),
    "A capella": ("a cappella", "acapella"),
    "Traditional music": ("folk traditional", "world"),
    "Music for children": ("kids", "children's"),
    "Keyboard (musical)": ("keys",),
    "Drum kit": ("drums", "drum set"),
    "Bass guitar": ("bass",),
    "Synthesizer": ("synth", "synths"),
    "Violin, fiddle": ("strings",),
    "Brass instrument": ("brass", "horns"),
    "Wind instrument, woodwind instrument": ("woodwind", "woodwinds"),
    "Saxophone": ("sax",),
    "Electric guitar": ("distorted guitar",),
    "Scratching (performance technique)": ("turntable", "dj scratch"),
    "Happy music": ("upbeat", "cheerful", "joyful"),
    "Sad music": ("melancholy", "melancholic", "sorrowful"),
    "Tender music": ("calm", "gentle", "soft", "romantic"),
    "Exciting music": ("energetic", "epic", "intense"),
    "Angry music": ("aggressive", "rage"),
    "Scary music": ("dark", "creepy", "spooky", "horror"),
    "Funny music": ("comedy", "silly", "playful"),
}


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9&']+", text.replace("-", " ")))


def _aliases(name: str) -> set[str]:
    """A name's own shorter forms: without "music", without its brackets, each part of a
    name with a comma ("Marimba, xylophone")."""
    found = {_plain(name)}
    bare = re.sub(r"\s*\([^)]*\)", "", name)
    found.add(_plain(bare))
    found.update(_plain(part) for part in bare.split(","))
    found.update(_plain(re.sub(r"\b(music|music of)\b", "", form)) for form in list(found))
    found.update(_plain(s) for s in SYNONYMS.get(name, ()))
    return {a for a in found if a}


class DescriptionError(EarshotError):
    """A description names no label earshot knows; says what is accepted."""


class Vocabulary:
    def __init__(self, names: Mapping[int, str], kinds: Mapping[int, str]) -> None:
        self.labels: dict[str, dict[int, str]] = {kind: {} for kind in KINDS}
        self._aliases: dict[str, list[tuple[str, int]]] = {kind: [] for kind in KINDS}
        for label, name in sorted(names.items()):
            kind = kinds.get(label)
            if kind in self.labels:
                self.labels[kind][label] = name
                self._aliases[kind] += [(alias, label) for alias in sorted(_aliases(name))]

    def complete(self, kind: str, typed: str, counts: Mapping[int, int] | None = None) -> list[str]:
        """The names of ``kind`` that match what a member has typed so far, best first:
        an exact word, then a name or synonym that starts with it, then one with a word
        that does; more clips in the catalog first. With ``counts``, only labels the
        catalog has."""
        wanted = _plain(typed)
        ranked: dict[int, tuple[int, int, str]] = {}
        for alias, label in self._aliases[kind]:
            if counts is not None and counts.get(label, 0) == 0:
                continue
            if not wanted:
                rank = 3
            elif alias == wanted:
                rank = 0
            elif alias.startswith(wanted):
                rank = 1
            elif f" {wanted}" in f" {alias}":
                rank = 2
            else:
                continue
            name = self.labels[kind][label]
            key = (rank, -(counts or {}).get(label, 0), name)
            ranked[label] = min(ranked.get(label, key), key)
        best = sorted(ranked, key=lambda label: ranked[label])
        return [self.labels[kind][label] for label in best[:CHOICES]]

    def read(self, **asked: str | None) -> dict[int, str]:
        """The labels a description names (``genre=``, ``instrument=``, ``mood=``), with
        their names, in the order they read ("Sad music + Jazz + Piano"); a refusal when
        it names none or one is unknown."""
        chosen: dict[int, str] = {}
        for kind in ("mood", "genre", "instrument"):
            text = (asked.get(kind) or "").strip()
            if text:
                label = self.resolve(kind, text)
                chosen[label] = self.labels[kind][label]
        if not chosen:
            raise DescriptionError(DESCRIBE_SOMETHING)
        return chosen

    def resolve(self, kind: str, text: str) -> int:
        """The label a member chose (its name, or a word for it); else a refusal naming
        some that are known."""
        wanted = _plain(text)
        exact = [label for alias, label in self._aliases[kind] if alias == wanted]
        if exact:
            return exact[0]
        close = self.complete(kind, text)
        if len(close) == 1:
            return next(i for i, n in self.labels[kind].items() if n == close[0])
        examples = ", ".join(close[:5] or list(self.labels[kind].values())[:5])
        raise DescriptionError(
            f"'{text[:40]}' is not a {kind} earshot knows. Pick one from the list as you "
            f"type, for example: {examples}."
        )
