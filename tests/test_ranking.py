"""The re-ranker on a real (small) index: filters, server signal, diversity, steering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.index.tagger import TagModel
from recommender.index.vector_index import IndexWriter, VectorIndex
from recommender.index.vectors import AUDIO_WEIGHT, SOUND_DIMS, VectorSpace
from recommender.ranking.pipeline import (
    STEER_WEIGHT,
    TASTE_PRIOR,
    Candidates,
    favourite_labels,
    read_taste,
    rerank,
    steer,
    suggest,
    unmet,
)
from recommender.ratings import Community, MemberRatings

DIM = 16


@pytest.fixture()
def index(tmp_path: Path) -> VectorIndex:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    vectors[11] = vectors[10] * 1.0001  # a near-duplicate of item 10
    tagger = TagModel.untrained([1])
    writer = IndexWriter(tmp_path, 300, DIM, trees=10)
    writer.add(np.arange(100, 400, dtype=np.int64), vectors)  # track ids 100..399
    writer.build()
    writer.commit(tagger, VectorSpace(tagger), {})
    opened = VectorIndex.open_current(tmp_path)
    assert opened is not None
    return opened


def _videos() -> dict[int, str]:
    return {t: f"video{t:06d}" for t in range(100, 400)}


def test_positions_map_track_ids_to_rows(index: VectorIndex) -> None:
    found = index.positions_of([100, 399, 250, 5, 1000])
    assert list(found[3:]) == [-1, -1]
    assert [index.track_at(r) for r in found[:3]] == [100, 399, 250]


def test_no_ratings_means_the_plain_ranking(index: VectorIndex) -> None:
    query = index.vector_at(3) + 0.1
    assert np.array_equal(steer(index, query, MemberRatings()), query)
    hits = index.search(query, 30)
    ranked = rerank(index, query, hits, MemberRatings(), Community(), videos=_videos(), count=10)
    order = [h.track_id for h in hits]
    twins = [t for t in order if t in (110, 111)]
    plain = [t for t in order if t not in twins[1:]][:10]  # the later twin collapses
    assert [r.hit.track_id for r in ranked] == plain


def test_dislikes_never_come_back_and_sink_in_the_server(index: VectorIndex) -> None:
    query = index.vector_at(20)
    hits = index.search(query, 30)
    top = [h.track_id for h in hits]
    mine = MemberRatings({top[0]: -1}, {top[0]: "video-of-top"})
    videos = _videos() | {top[0]: "video-of-top"}
    ranked = rerank(index, query, hits, mine, Community(), videos=videos, count=10)
    assert top[0] not in [r.hit.track_id for r in ranked]
    server = Community(dislikes={top[1]: 3})
    ranked = rerank(index, query, hits, MemberRatings(), server, videos=videos, count=10)
    assert [r.hit.track_id for r in ranked].index(top[1]) > 0
    one = Community(dislikes={top[1]: 1})  # a single member's dislike is only theirs
    ranked = rerank(index, query, hits, MemberRatings(), one, videos=videos, count=10)
    assert ranked[1].hit.track_id == top[1]


def test_diversity_and_reasons(index: VectorIndex) -> None:
    query = index.vector_at(10)
    hits = index.search(query, 30)
    videos = _videos() | {112: "video000110", 113: "video000110"}  # one video, three clips
    community = Community(likes={hits[2].track_id: 3}, co_likes={hits[3].track_id: 2})
    ranked = rerank(index, query, hits, MemberRatings(), community, videos=videos, count=10)
    chosen = [r.hit.track_id for r in ranked]
    assert (110 in chosen) != (111 in chosen)  # near-duplicates collapse into one
    assert len({videos[t] for t in chosen}) == len(chosen)  # one clip per video
    reasons = {r.hit.track_id: r.reasons for r in ranked}
    assert "liked by 3 members here" in reasons[hits[2].track_id]
    assert "liked with your likes by 2 members" in reasons[hits[3].track_id]
    capped = rerank(
        index,
        query,
        hits,
        MemberRatings(),
        Community(),
        videos=_videos(),
        channels={h.track_id: "same channel" for h in hits},
        count=10,
    )
    assert len(capped) == 2  # at most two per channel


LABELS = 6


@pytest.fixture()
def tagged_index(tmp_path: Path) -> VectorIndex:
    """Items shaped as real ones: a sound block of length AUDIO_WEIGHT, then known labels
    (item i carries label i % 6, and every third item label (i // 6) % 6 as well)."""
    rng = np.random.default_rng(1)
    sound = rng.normal(size=(240, SOUND_DIMS))
    sound *= AUDIO_WEIGHT / np.linalg.norm(sound, axis=1, keepdims=True)
    tags = np.zeros((240, LABELS))
    tags[np.arange(240), np.arange(240) % LABELS] = 1
    tags[::3, (np.arange(0, 240, 3) // LABELS) % LABELS] = 1
    tagger = TagModel.untrained(range(LABELS))
    writer = IndexWriter(tmp_path, 240, SOUND_DIMS + LABELS, trees=10)
    writer.add(np.arange(240, dtype=np.int64), np.hstack([sound, tags]).astype(np.float32))
    writer.build()
    writer.commit(tagger, VectorSpace(tagger), {})
    opened = VectorIndex.open_current(tmp_path)
    assert opened is not None
    return opened


def _carrying(label: int, count: int, alone: bool = True) -> list[int]:
    """Items of the tagged index that carry ``label`` (only it, if ``alone``)."""
    items = [i for i in range(240) if i % LABELS == label and (not alone or i % 3)]
    return items[:count]


def test_favourite_labels_weigh_the_evidence() -> None:
    # A member who liked 3 of 20 suggestions: label 0 in every like and no skip; labels 1
    # and 2 in a like each, and in several skips.
    liked = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1]], dtype=np.float32)
    disliked = np.zeros((17, 3), dtype=np.float32)
    disliked[:4, 1] = disliked[4:7, 2] = 1
    favourite = favourite_labels(liked, disliked)
    assert favourite[0] > 0.9
    assert favourite[1] < TASTE_PRIOR and favourite[2] < TASTE_PRIOR
    nothing = favourite_labels(np.zeros((2, 1), np.float32), np.zeros((0, 1), np.float32))
    assert nothing[0] == pytest.approx(TASTE_PRIOR)  # a label never rated stays at chance
    # One like is a hint, not a favourite (it may be a slip); two start to be one.
    once = favourite_labels(liked[1:2], disliked)[0]
    twice = favourite_labels(liked[:2], disliked)[0]
    assert TASTE_PRIOR < once < 0.5 < twice
    # The same likes from a member who likes half of what comes say less.
    easy = favourite_labels(liked, disliked[:3])[0]
    assert TASTE_PRIOR < easy < favourite[0]


def test_taste_steers_gently_toward_what_was_liked(tagged_index: VectorIndex) -> None:
    index = tagged_index
    query = index.vector_at(7)  # label 1 alone
    assert read_taste(index, MemberRatings({_carrying(2, 1)[0]: -1})) is None  # no like yet
    skipped = dict.fromkeys(_carrying(2, 30), -1)
    one = steer(index, query, MemberRatings({**skipped, _carrying(4, 1)[0]: 1}))
    many = steer(index, query, MemberRatings({**skipped, **dict.fromkeys(_carrying(4, 6), 1)}))

    def shift(moved: np.ndarray) -> float:
        return float(np.linalg.norm(moved - query) / np.linalg.norm(query))

    assert 0 < shift(one) < shift(many) <= STEER_WEIGHT  # grows with ratings, capped
    cos = float(one @ query) / (np.linalg.norm(one) * np.linalg.norm(query))
    assert cos > 0.9  # one like never swamps the song asked about
    taste = read_taste(index, MemberRatings({**skipped, **dict.fromkeys(_carrying(4, 6), 1)}))
    assert taste is not None and int(np.argmax(taste.pull[SOUND_DIMS:])) == 4
    assert taste.pull[SOUND_DIMS + 2] < 0  # what was skipped is less likely than chance
    assert taste.explained == pytest.approx(6, abs=0.5)  # label 4 explains every like


def test_a_like_that_a_favourite_explains_lends_its_other_labels_little() -> None:
    # Six likes of label 0, three of which also carry label 1: label 1 rides along.
    liked = np.zeros((6, 2), dtype=np.float32)
    liked[:, 0] = liked[:3, 1] = 1
    favourite = favourite_labels(liked, np.zeros((30, 2), np.float32))
    assert favourite[0] > 0.99 and favourite[1] < 0.5
    # The same three likes of label 1 on their own make it a favourite.
    alone = np.zeros((3, 2), dtype=np.float32)
    alone[:, 1] = 1
    both = favourite_labels(np.vstack([liked[3:], alone]), np.zeros((30, 2), np.float32))
    assert both[0] > 0.8 and both[1] > 0.8


def test_steering_falls_as_a_member_already_likes_what_comes(tagged_index: VectorIndex) -> None:
    assert unmet(3, 3, 0) == 1.0  # only likes: nothing to go by
    assert unmet(1, 1, 19) > unmet(5, 5, 15) > unmet(10, 10, 10) > unmet(19, 19, 1) > 0
    assert unmet(2, 10, 10) > unmet(10, 10, 10)  # likes no favourite explains: still unmet
    query = tagged_index.vector_at(7)
    likes = dict.fromkeys(_carrying(4, 6), 1)
    poorly_served = MemberRatings({**likes, **dict.fromkeys(_carrying(2, 30), -1)})
    well_served = MemberRatings({**likes, **dict.fromkeys(_carrying(2, 2), -1)})

    def shift(ratings: MemberRatings) -> float:
        moved = steer(tagged_index, query, ratings)
        return float(np.linalg.norm(moved - query) / np.linalg.norm(query))

    assert shift(poorly_served) > shift(well_served)


def test_several_favourites_share_one_pull(tagged_index: VectorIndex) -> None:
    skipped = dict.fromkeys(_carrying(2, 30), -1)
    one = MemberRatings({**skipped, **dict.fromkeys(_carrying(4, 6), 1)})
    two = MemberRatings(
        {**skipped, **dict.fromkeys(_carrying(4, 6), 1), **dict.fromkeys(_carrying(5, 6), 1)}
    )
    one_taste, two_taste = read_taste(tagged_index, one), read_taste(tagged_index, two)
    assert one_taste is not None and two_taste is not None
    one_pull, two_pull = one_taste.pull[SOUND_DIMS:], two_taste.pull[SOUND_DIMS:]
    # Both favourites pulled, each less than one favourite alone, and no further in all.
    assert two_pull[4] > 0.3 and two_pull[5] > 0.3
    assert two_pull[4] < one_pull[4] and two_pull[5] < one_pull[4]
    assert np.linalg.norm(two_pull) <= np.linalg.norm(one_pull) * 1.01


def test_the_pipeline_widens_its_search_when_filters_leave_too_few(index: VectorIndex) -> None:
    query = index.vector_at(30)
    asked: list[int] = []

    def describe(hits):
        asked.append(len(hits))
        return Candidates(_videos())

    plain = suggest(index, query, MemberRatings(), describe, count=10)
    assert len(plain) == 10 and asked == [40]  # count * 3 + 10, enough at once
    # Most candidates turn out unknown to the store (gone since the build): widen, 4x.
    few = {t: v for t, v in _videos().items() if t % 10 == 0}
    asked.clear()
    ranked = suggest(
        index, query, MemberRatings(), lambda hits: describe(hits) and Candidates(few), count=10
    )
    assert len(ranked) == 10 and all(r.hit.track_id % 10 == 0 for r in ranked)
    assert asked[:2] == [40, 160]
    disliked = [r.hit.track_id for r in plain]
    mine = MemberRatings(dict.fromkeys(disliked, -1), {t: f"video{t:06d}" for t in disliked})
    asked.clear()
    again = suggest(index, query, mine, describe, count=10)
    assert asked[0] == 40 + len(disliked)  # room for what the member will never see again
    assert not {r.hit.track_id for r in again} & set(disliked)
    with pytest.raises(ValueError, match="count must be at least 1"):
        suggest(index, query, MemberRatings(), describe, count=0)
