"""Personalisation, measured the way members will judge it (``evaluate --feedback``).

Simulated members rate suggestions by their favourite labels, round after round, on fresh
queries from the held-out catalog; everything runs the serving pipeline
(``ranking.suggest``). Four kinds of member, at least 60 of each, over several seeds:

- one label: likes what carries their one favourite label, dislikes the rest;
- several labels: two or three favourites, any of which makes a suggestion liked;
- noisy: as one label, but a fifth of their ratings are random;
- lurkers: as one label, but they only ever like (never press 👎).

Per kind and round it reports P@10 for the member's labels (taste) and P@10 for the query's
own labels (the song asked about), each beside the plain ranking of the same queries, as
the mean over seeds with its standard error. Servers whose members share a taste measure
the community signal: how far a new member's first suggestions lean toward the server's
taste, and that members of another server see exactly the plain ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..audioset.tfrecord import ClipRecord
from ..index.vector_index import Hit, VectorIndex
from ..index.vectors import VectorSpace
from ..ranking.pipeline import Candidates, SearchSettings, suggest
from ..ratings import Community, MemberRatings
from .labels import label_matrix

K = 10


@dataclass(frozen=True)
class MemberKind:
    name: str
    favourites: tuple[int, int]  # how many favourite labels, from..to
    noise: float = 0.0  # share of ratings made at random
    dislikes: bool = True  # presses 👎 for the rest


KINDS = (
    MemberKind("one label", (1, 1)),
    MemberKind("several labels", (2, 3)),
    MemberKind("noisy", (1, 1), noise=0.2),
    MemberKind("lurker", (1, 1), dislikes=False),
)


class _World:
    """The catalog as the pipeline sees it in the simulation."""

    def __init__(
        self,
        index: VectorIndex,
        space: VectorSpace,
        catalog: Sequence[ClipRecord],
        specific: Sequence[int],
        search: SearchSettings,
    ) -> None:
        self.index = index
        self.space = space
        self.catalog = catalog
        self.labels = label_matrix(catalog, specific)
        self.videos = {i: clip.video_id for i, clip in enumerate(catalog)}
        self.search = search
        self._vectors: dict[int, np.ndarray] = {}

    def vector(self, q: int) -> np.ndarray:
        if q not in self._vectors:
            self._vectors[q] = self.space.query_vector(self.catalog[q].frames)
        return self._vectors[q]

    def suggest(
        self,
        q: int,
        ratings: MemberRatings,
        community: Callable[[Sequence[Hit]], Community] | None = None,
    ) -> list[int]:
        def describe(hits: Sequence[Hit]) -> Candidates:
            told = community(hits) if community else Community()
            return Candidates(self.videos, community=told)

        ranked = suggest(
            self.index,
            self.vector(q),
            ratings,
            describe,
            count=K,
            exclude_video=self.videos[q],
            search=self.search,
            accept=lambda track: track != q,
        )
        return [r.hit.track_id for r in ranked]

    def taste_p(self, items: list[int], columns: Sequence[int]) -> float:
        if not items:
            return 0.0
        return float(self.labels[np.ix_(items, list(columns))].any(1).mean())

    def own_p(self, items: list[int], q: int) -> float:
        if not items:
            return 0.0
        return float((self.labels[items] & self.labels[q]).any(1).mean())


def _rate(
    world: _World,
    ratings: MemberRatings,
    items: list[int],
    columns: Sequence[int],
    kind: MemberKind,
    rng: np.random.Generator,
) -> None:
    for track in items:
        liked = bool(world.labels[track, list(columns)].any())
        if kind.noise and rng.random() < kind.noise:
            liked = bool(rng.random() < 0.5)
        if liked:
            ratings.values[track] = 1
        elif kind.dislikes:
            ratings.values[track] = -1
        else:
            continue
        ratings.videos[track] = world.videos[track]


def _mean_se(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    se = float(array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else 0.0
    return {"mean": round(float(array.mean()), 4), "se": round(se, 4)}


def _ratio_se(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float]:
    """The ratio of two means over paired samples (seeds, servers) and its standard error
    (the delta method, with the pairs' covariance): the margin a test of it needs, since
    the figures move with the machine's floating point (README, Personalisation)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    a, b = float(num.mean()), max(float(den.mean()), 1e-9)
    ratio = a / b
    if len(num) < 2:
        return ratio, 0.0
    cov = np.cov(num, den) / len(num)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / b**2
    return ratio, float(np.sqrt(max(var, 0.0)))


def simulate_members(
    world: _World,
    kind: MemberKind,
    eligible: Sequence[int],
    members: int,
    rounds: int,
    rng: np.random.Generator,
) -> dict:
    """One seed of one kind: per round, mean P@10 (taste and own labels) over members."""
    taste = np.zeros((members, rounds + 1))
    plain_taste = np.zeros((members, rounds + 1))
    own = np.zeros((members, rounds + 1))
    plain_own = np.zeros((members, rounds + 1))
    identical = True
    for m in range(members):
        count = int(rng.integers(kind.favourites[0], kind.favourites[1] + 1))
        columns = [int(c) for c in rng.choice(eligible, size=count, replace=False)]
        ratings = MemberRatings()
        queries = rng.choice(len(world.catalog), size=rounds + 1, replace=False)
        for r, q in enumerate(int(x) for x in queries):
            plain = world.suggest(q, MemberRatings())
            personal = world.suggest(q, ratings) if len(ratings) else plain
            if r == 0:
                identical &= world.suggest(q, ratings) == plain
            taste[m, r] = world.taste_p(personal, columns)
            plain_taste[m, r] = world.taste_p(plain, columns)
            own[m, r] = world.own_p(personal, q)
            plain_own[m, r] = world.own_p(plain, q)
            _rate(world, ratings, personal, columns, kind, rng)
    return {
        "taste": taste.mean(0),
        "plain_taste": plain_taste.mean(0),
        "own": own.mean(0),
        "plain_own": plain_own.mean(0),
        "identical": identical,
    }


def _server_community(
    server: dict[int, MemberRatings], member: int
) -> Callable[[Sequence[Hit]], Community]:
    """The store's community query, in memory: other members' likes and dislikes of the
    candidates, and co-likes with this member's likes."""

    def community(hits: Sequence[Hit]) -> Community:
        told = Community()
        mine = set(server.get(member, MemberRatings()).liked())
        for other, ratings in server.items():
            if other == member:
                continue
            liked = set(ratings.liked())
            for hit in hits:
                value = ratings.values.get(hit.track_id)
                if value is None:
                    continue
                counts = told.likes if value > 0 else told.dislikes
                counts[hit.track_id] = counts.get(hit.track_id, 0) + 1
                if value > 0 and mine & liked:
                    told.co_likes[hit.track_id] = told.co_likes.get(hit.track_id, 0) + 1
        return told

    return community


def simulate_servers(
    world: _World,
    eligible: Sequence[int],
    rng: np.random.Generator,
    servers: int = 12,
    members: int = 8,
    rounds: int = 5,
    newcomers: int = 10,
) -> dict:
    """Servers whose members share one favourite label rate for a while; then a new
    member of each, with no ratings of their own, asks about fresh songs."""
    labels = [int(c) for c in rng.choice(eligible, size=servers, replace=False)]
    worlds: list[dict[int, MemberRatings]] = []
    for label in labels:
        server: dict[int, MemberRatings] = {}
        for member in range(members):
            ratings = server.setdefault(member, MemberRatings())
            for q in rng.choice(len(world.catalog), size=rounds, replace=False):
                items = world.suggest(int(q), ratings, _server_community(server, member))
                _rate(world, ratings, items, [label], KINDS[0], rng)
        worlds.append(server)
    newcomer = -1
    here, plain, elsewhere, empty_identical = [], [], [], True
    for s, label in enumerate(labels):
        other = worlds[(s + 1) % servers]
        for q in (int(x) for x in rng.choice(len(world.catalog), size=newcomers, replace=False)):
            alone = world.suggest(q, MemberRatings())
            plain.append(world.taste_p(alone, [label]))
            ranked = world.suggest(q, MemberRatings(), _server_community(worlds[s], newcomer))
            here.append(world.taste_p(ranked, [label]))
            # A newcomer of the next server, whose members like something else.
            there = world.suggest(q, MemberRatings(), _server_community(other, newcomer))
            elsewhere.append(world.taste_p(there, [label]))
            empty = world.suggest(q, MemberRatings(), _server_community({}, newcomer))
            empty_identical &= empty == alone

    # One figure per server: its newcomers share one server's ratings, so servers, not
    # queries, are the independent samples behind each standard error.
    def per_server(values: list[float]) -> np.ndarray:
        return np.asarray(values).reshape(servers, newcomers).mean(1)

    lean, lean_se = _ratio_se(per_server(here), per_server(plain))
    return {
        "servers": servers,
        "members_per_server": members,
        "rounds_rated": rounds,
        "newcomer_p_at_10_for_server_label": round(float(np.mean(here)), 4),
        "plain_p_at_10_for_server_label": round(float(np.mean(plain)), 4),
        "lean": round(lean, 2),
        "lean_se": round(lean_se, 2),
        "other_server_p_at_10_for_that_label": round(float(np.mean(elsewhere)), 4),
        "other_server_minus_plain": _mean_se(per_server(elsewhere) - per_server(plain)),
        "server_without_ratings_identical": bool(empty_identical),
    }


def simulate_feedback(
    index: VectorIndex,
    space: VectorSpace,
    catalog: Sequence[ClipRecord],
    specific_labels: Sequence[int],
    *,
    seeds: int = 16,
    rounds: int = 5,
    members: int = 60,
    min_items: int = 10,
    overfetch: int = 20,
    search_k: int = -1,
    kinds: Sequence[MemberKind] = KINDS,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    world = _World(
        index,
        space,
        catalog,
        specific_labels,
        SearchSettings(overfetch=overfetch, search_k=search_k),
    )
    counts = world.labels.sum(0)
    eligible = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] >= min_items]
    report: dict = {"seeds": seeds, "rounds": rounds, "members_per_kind": members, "kinds": {}}
    for kind in kinds:
        runs = []
        for seed in range(seeds):
            progress(f"feedback: {kind.name}, seed {seed + 1}/{seeds}")
            rng = np.random.default_rng([seed, len(kind.name)])
            runs.append(simulate_members(world, kind, eligible, members, rounds, rng))
        taste = np.stack([r["taste"] for r in runs])  # seeds x (rounds + 1)
        plain_taste = np.stack([r["plain_taste"] for r in runs])
        own = np.stack([r["own"] for r in runs])
        plain_own = np.stack([r["plain_own"] for r in runs])
        no_feedback = plain_taste[:, 1:].mean(1)
        ratio, ratio_se = _ratio_se(taste[:, rounds], no_feedback)
        kept, kept_se = _ratio_se(own[:, rounds], plain_own[:, rounds])
        report["kinds"][kind.name] = {
            "no_feedback_p_at_10": _mean_se(no_feedback),
            "round_p_at_10": [_mean_se(taste[:, r]) for r in range(1, rounds + 1)],
            "ratio_last_round": round(ratio, 2),
            "ratio_last_round_se": round(ratio_se, 2),
            "own_labels_plain": _mean_se(plain_own[:, rounds]),
            "own_labels_rated": _mean_se(own[:, rounds]),
            "own_labels_relative_loss": round(1 - kept, 4),
            "own_labels_loss_se": round(kept_se, 4),
            "no_ratings_identical": all(r["identical"] for r in runs),
        }
    progress("feedback: servers")
    report["community"] = simulate_servers(world, eligible, np.random.default_rng(1234))
    return report
