from __future__ import annotations

from pathlib import Path

import pytest

from recommender.audioset.ontology import LabelKind, MetadataError, Ontology, find_metadata_dir


def test_music_subtree_and_specific_labels(audioset: Path) -> None:
    ontology = Ontology.load(audioset)
    names = {c.name: c for c in ontology.classes}
    assert len(ontology.classes) == 527
    assert names["Music"].kind == LabelKind.MUSIC and names["Music"].index in ontology.music
    assert names["Musical instrument"].kind == LabelKind.MUSIC  # excluded from specific
    assert names["Guitar"].kind == LabelKind.INSTRUMENT
    assert names["Electric guitar"].kind == LabelKind.INSTRUMENT
    assert names["Jazz"].kind == LabelKind.GENRE
    assert names["Sad music"].kind == LabelKind.MOOD
    assert names["Speech"].kind == LabelKind.OTHER
    assert len(ontology.specific) == 79 + 52 + 7
    assert not ontology.is_music([names["Speech"].index])
    assert ontology.is_music([names["Speech"].index, names["Lullaby"].index])


def test_metadata_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"class_labels_indices\.csv is missing"):
        Ontology.load(tmp_path)
    (tmp_path / "class_labels_indices.csv").write_text("index,mid,display_name\n0,/m/x,X\n")
    (tmp_path / "ontology.json").write_text("[]")
    with pytest.raises(MetadataError, match="no 'Music' node"):
        Ontology.load(tmp_path)


def test_find_metadata_dir(audioset: Path) -> None:
    split = audioset / "audioset_v1_embeddings" / "bal_train"
    assert find_metadata_dir(split) == audioset
