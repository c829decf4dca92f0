"""Choosing the song among search results (issue 23): spotDL's rules on result lists as
YouTube gives them (tests/search_cases.py)."""

from __future__ import annotations

from recommender.sources.words import Candidate, Wanted, choose, score
from tests.search_cases import CASES, HELD_OUT


def _pick(words: str, known: float | None, results: list[Candidate]) -> int | None:
    chosen = choose(results, Wanted(words, duration_s=known))
    return None if chosen is None else results.index(chosen)


def test_the_right_result_is_chosen_nine_times_in_ten() -> None:
    """42 lists: 32 the rules were settled on (32 right), 10 written afterwards and never
    tuned against (9 right: "(A Deal With God)" reads as another version). The scorer is
    deterministic, so the figure is the same on every machine."""
    every = CASES + HELD_OUT
    assert len(every) >= 30
    wrong = [
        (words, _pick(words, known, results), right)
        for words, known, results, right in every
        if _pick(words, known, results) != right
    ]
    assert len(wrong) <= len(every) // 10, wrong
    held_out_wrong = [w for w in wrong if w[0] in {case[0] for case in HELD_OUT}]
    assert len(held_out_wrong) <= 2, held_out_wrong


def test_other_versions_lose_unless_asked_for() -> None:
    plain = Candidate("Creep", "Radiohead - Topic", 238, True)
    acoustic = Candidate("Creep (Acoustic)", "Radiohead - Topic", 260, True)
    assert score(plain, Wanted("radiohead creep")) > score(acoustic, Wanted("radiohead creep"))
    asked = Wanted("radiohead creep acoustic")
    assert score(acoustic, asked) > score(plain, asked)


def test_a_result_far_from_the_known_length_is_another_cut() -> None:
    edit = Candidate("One More Time (Short Radio Edit)", "Daft Punk - Topic", 231, True)
    assert score(edit, Wanted("daft punk one more time", duration_s=320)) is None
    assert score(edit, Wanted("daft punk one more time")) is not None


def test_nothing_is_chosen_when_no_result_carries_the_words() -> None:
    results = [Candidate("Top 50 Songs This Week", "Charts", 3000)]
    assert choose(results, Wanted("zzqx unheard of song")) is None
