"""Ingesting AudioSet: the music clips of every .tfrecord file into the catalog.

Each file goes in with one transaction and is then marked done, so a rerun or a resumed
run skips what is in and never duplicates a clip; a corrupt record is reported by file
and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..audioset.ontology import Ontology, find_metadata_dir, find_tfrecords
from ..audioset.tfrecord import read_clips_reporting
from ..errors import EarshotError
from ..results import IngestReport, Progress
from .store import Store

log = logging.getLogger(__name__)


async def ingest(
    store: Store, audioset_dir: Path, meta_dir: Path | None, progress: Progress
) -> IngestReport:
    meta_dir = meta_dir or find_metadata_dir(audioset_dir)
    if meta_dir is None:
        raise EarshotError(
            f"No class_labels_indices.csv and ontology.json at or above {audioset_dir}; "
            "pass --meta DIR"
        )
    ontology = await asyncio.to_thread(Ontology.load, meta_dir)
    files = await asyncio.to_thread(find_tfrecords, audioset_dir)
    if not files:
        raise EarshotError(f"No .tfrecord files under {audioset_dir}")
    await store.save_classes(ontology)
    added = skipped_files = non_music = 0
    problems: dict[str, list[str]] = {}
    for done, path in enumerate(files, 1):
        name = f"{path.parent.name}/{path.name}"  # split/file, whatever folder was given
        size = path.stat().st_size
        if await store.ingested_size(name) == size:
            skipped_files += 1
            progress("ingest", done, len(files))
            continue
        clips, file_problems = await asyncio.to_thread(read_clips_reporting, path)
        music = [c for c in clips if ontology.is_music(c.labels)]
        if file_problems:
            problems[name] = file_problems
            for problem in file_problems:
                log.warning("%s: %s", name, problem)
        added += await store.add_file(
            name, size, music, path.parent.name, len(clips) - len(music), file_problems
        )
        non_music += len(clips) - len(music)
        progress("ingest", done, len(files))
    return IngestReport(len(files), skipped_files, added, non_music, problems)
