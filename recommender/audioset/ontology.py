"""AudioSet's class list and ontology: which clips are music, and which labels are specific.

The catalog keeps clips with any label in the ontology subtree of "Music". The labels that
say what a piece of music sounds like ("specific" labels) are the classes in the subtrees
"Music genre", "Musical instrument" and "Music mood", except the class "Musical instrument".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

MUSIC = "/m/04rlf"
MUSICAL_INSTRUMENT = "/m/04szw"
MUSIC_GENRE = "/m/0kpv1t"
MUSIC_MOOD = "/t/dd00030"

CLASS_LABELS_FILE = "class_labels_indices.csv"
ONTOLOGY_FILE = "ontology.json"
SPLITS = ("bal_train", "eval", "unbal_train")
EMBEDDINGS_DIR = "audioset_v1_embeddings"


class LabelKind(StrEnum):
    GENRE = "genre"
    INSTRUMENT = "instrument"
    MOOD = "mood"
    MUSIC = "music"  # in the Music subtree but not specific (Music itself, roles, concepts)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class AudioSetClass:
    index: int
    mid: str
    name: str
    kind: LabelKind
    parents: tuple[int, ...] = ()  # the classes this one sits under in the ontology


class MetadataError(ValueError):
    """The class list or ontology is missing or malformed."""


class Ontology:
    """The 527 AudioSet classes with what the catalog needs to know about each."""

    def __init__(self, classes: list[AudioSetClass]) -> None:
        self.classes = classes
        self.by_index = {c.index: c for c in classes}
        self.music = frozenset(c.index for c in classes if c.kind != LabelKind.OTHER)
        self.specific = tuple(
            c.index
            for c in classes
            if c.kind in (LabelKind.GENRE, LabelKind.INSTRUMENT, LabelKind.MOOD)
        )
        self.genre = frozenset(c.index for c in classes if c.kind == LabelKind.GENRE)
        parents = {p for c in classes if c.index in self.specific for p in c.parents}
        # Specific labels with no specific label under them ("Electric guitar", not "Guitar").
        self.leaves = tuple(label for label in self.specific if label not in parents)
        self.instrument = frozenset(c.index for c in classes if c.kind == LabelKind.INSTRUMENT)

    @classmethod
    def load(cls, meta_dir: Path) -> Ontology:
        labels_path = meta_dir / CLASS_LABELS_FILE
        ontology_path = meta_dir / ONTOLOGY_FILE
        for path in (labels_path, ontology_path):
            if not path.is_file():
                raise MetadataError(
                    f"{path} is missing: AudioSet's {path.name} must sit in {meta_dir}"
                )
        try:
            with open(labels_path, newline="", encoding="utf-8") as f:
                rows = [(int(r["index"]), r["mid"], r["display_name"]) for r in csv.DictReader(f)]
            nodes = {n["id"]: n for n in json.loads(ontology_path.read_text(encoding="utf-8"))}
        except (KeyError, ValueError, TypeError) as exc:
            raise MetadataError(f"cannot read AudioSet metadata in {meta_dir}: {exc}") from None
        if MUSIC not in nodes:
            raise MetadataError(f"{ontology_path} has no 'Music' node ({MUSIC})")

        def subtree(root: str) -> set[str]:
            seen: set[str] = set()
            stack = [root]
            while stack:
                mid = stack.pop()
                if mid in seen or mid not in nodes:
                    continue
                seen.add(mid)
                stack.extend(nodes[mid].get("child_ids", []))
            return seen

        genre, instrument, mood = (
            subtree(MUSIC_GENRE),
            subtree(MUSICAL_INSTRUMENT),
            subtree(MUSIC_MOOD),
        )
        instrument.discard(MUSICAL_INSTRUMENT)
        music = subtree(MUSIC)

        def kind(mid: str) -> LabelKind:
            if mid in genre:
                return LabelKind.GENRE
            if mid in instrument:
                return LabelKind.INSTRUMENT
            if mid in mood:
                return LabelKind.MOOD
            return LabelKind.MUSIC if mid in music else LabelKind.OTHER

        index_of = {mid: i for i, mid, _ in rows}
        parents: dict[str, list[int]] = {}
        for node in nodes.values():
            for child in node.get("child_ids", []):
                if node["id"] in index_of:
                    parents.setdefault(child, []).append(index_of[node["id"]])
        return cls(
            [
                AudioSetClass(i, mid, name, kind(mid), tuple(sorted(parents.get(mid, ()))))
                for i, mid, name in rows
            ]
        )

    def is_music(self, labels: Iterable[int]) -> bool:
        return any(label in self.music for label in labels)

    def names(self, labels: Iterable[int]) -> list[str]:
        return [self.by_index[i].name for i in labels if i in self.by_index]


def find_tfrecords(root: Path) -> list[Path]:
    """The .tfrecord files of an AudioSet folder, in a stable order.

    ``root`` may be the release folder (with ``audioset_v1_embeddings``), the embeddings
    folder, or one split folder such as ``bal_train``.
    """
    if (root / EMBEDDINGS_DIR).is_dir():
        root = root / EMBEDDINGS_DIR
    return sorted(root.rglob("*.tfrecord"))


def find_metadata_dir(root: Path) -> Path | None:
    """The folder holding class_labels_indices.csv, at or above an AudioSet folder."""
    for candidate in (root, *root.parents):
        if (candidate / CLASS_LABELS_FILE).is_file() and (candidate / ONTOLOGY_FILE).is_file():
            return candidate
    return None
