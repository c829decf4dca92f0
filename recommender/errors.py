"""Errors whose message is meant for the person who asked: what went wrong, what to do."""

from __future__ import annotations


class EarshotError(Exception):
    """Base for every error the engine reports to a user or operator as it is.

    ``str(error)`` is for whoever asked; ``operator_hint``, when there is one, says what
    the operator can do, for the log and the CLI (members are not told to run commands).
    """

    operator_hint: str = ""
    # The request used up listening capacity though it was not answered (a time limit):
    # it costs the member their wait like an answered one, or they could repeat it at once.
    costs_cooldown: bool = False


class NotReadyError(EarshotError):
    """The deployment is not ready to answer yet (no catalog, or no index)."""

    def __init__(
        self,
        operator_hint: str,
        message: str = "earshot is still preparing its catalog; try again in a while.",
    ) -> None:
        super().__init__(message)
        self.operator_hint = operator_hint

    def __reduce__(self) -> tuple:
        return type(self), ()


class CatalogEmptyError(NotReadyError):
    def __init__(self) -> None:
        super().__init__(
            "the catalog is empty: run `python -m recommender prepare` (or `ingest "
            "--audioset DIR`, then `reindex`)"
        )


class IndexMissingError(NotReadyError):
    def __init__(self) -> None:
        super().__init__("there is no search index: run `python -m recommender reindex`")


class IndexDamagedError(NotReadyError):
    """The catalog is there but no build of its index reads whole (the log names what)."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"{problem}: run /reindex or `python -m recommender reindex`",
            "earshot's search index is damaged and needs rebuilding, so it cannot suggest "
            "anything right now; a server owner can rebuild it with /reindex.",
        )
        self.problem = problem

    def __reduce__(self) -> tuple:
        return type(self), (self.problem,)


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


class DiskFullError(EarshotError):
    """A write was refused for want of disk space (``disk.is_disk_full``)."""

    LISTENING = (
        "earshot's server has run out of disk space, so it cannot listen to new songs "
        "right now. Songs it already knows still work; the bot's owners have been told."
    )

    ANYTHING = (
        "earshot's server has run out of disk space, so it could not do that right now. "
        "The bot's owners have been told; try again later."
    )

    where = ""

    def __init__(self, where: str, message: str = LISTENING) -> None:
        super().__init__(message)
        self.where = where
        self.operator_hint = f"{where} is full: free some space there"

    def __reduce__(self) -> tuple:  # crosses from a worker process intact
        return type(self), (self.where, str(self))


class DatabaseUnavailableError(EarshotError):
    """The shared database (DATABASE_URL) cannot be reached or refuses earshot."""

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__("earshot's database is unreachable right now; try again in a minute.")
        detail = " ".join(str(error).split())
        self.operator_hint = f"DATABASE_URL {where}: {type(error).__name__}: {detail}"


class DatabaseDamagedError(DatabaseUnavailableError):
    """The SQLite file is not a database any more, or parts of it are malformed."""

    def __init__(self, path: object, error: object) -> None:
        EarshotError.__init__(self, "earshot's database is damaged; an operator has been told.")
        detail = " ".join(str(error).split())
        self.operator_hint = (
            f"the SQLite database {path} is damaged ({detail}). Stop earshot, then restore "
            f"your latest backup of it, or recover what it still holds: sqlite3 {path} "
            f"'.recover' | sqlite3 {path}.recovered, check that, and move it into place "
            "(README: When a file is damaged)"
        )
