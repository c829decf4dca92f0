"""Errors whose message is meant for the person who asked: what went wrong, what to do."""

from __future__ import annotations


class EarshotError(Exception):
    """Base for every error the engine reports to a user or operator as it is."""


class CatalogEmptyError(EarshotError):
    def __init__(self) -> None:
        super().__init__(
            "The catalog is empty. Run `python -m recommender ingest --audioset DIR` "
            "(or `--download`), then `python -m recommender reindex`."
        )


class IndexMissingError(EarshotError):
    def __init__(self) -> None:
        super().__init__(
            "There is no search index yet. Run `python -m recommender reindex` to build it."
        )


class UnknownVideoError(EarshotError):
    def __init__(self, video_id: str) -> None:
        super().__init__(
            f"Video {video_id} is not in the catalog and has not been listened to yet. "
            "Ask for it by link so earshot can fetch and embed it."
        )
        self.video_id = video_id


class ReindexRunningError(EarshotError):
    """A rebuild is already under way."""


class BusyError(EarshotError):
    """Too much work queued; the message says when to come back."""
