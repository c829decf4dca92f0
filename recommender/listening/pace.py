"""How long new songs wait for a listener, from how long the last ones took.

A song is refused as busy on the wait it would have, not on how many songs are ahead of
it: fourteen quick songs at once are all answered in seconds, while a few slow ones can
fill the listeners for minutes."""

from __future__ import annotations

WEIGHT = 0.3  # of the newest measurement in the running average


class ListeningPace:
    def __init__(self) -> None:
        self.typical_s: float | None = None  # None until a song was listened to

    def measured(self, seconds: float) -> None:
        if self.typical_s is None:
            self.typical_s = seconds
        else:
            self.typical_s += WEIGHT * (seconds - self.typical_s)

    def expected_wait_s(self, ahead: int, slots: int) -> float:
        """The wait for a listener of a song arriving behind ``ahead`` songs (running or
        waiting), with ``slots`` listening at once."""
        if self.typical_s is None or ahead < slots:
            return 0.0
        return (ahead - slots + 1) * self.typical_s / slots


def about(seconds: float) -> str:
    """A wait as a member reads it: "about 40 seconds", "about 3 minutes"."""
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5)} seconds"
    return f"about {round(seconds / 60)} minutes"
