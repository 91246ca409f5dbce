"""The "synthetic_interactions" set: users and items with known latent factors, and what
users chose because of them.

Items fall into genre clusters: an item's true vector is its cluster's centre (plus a little of
a second genre's, for items that have one) plus noise. A user's true vector mixes a favourite
cluster with a second one. Each user picks items without replacement from
`softmax(user . item / TEMPERATURE + item_bias)`, so the true factors explain the choices and
the item bias makes some items popular everywhere: recommending the most popular items is a
real baseline, which a learned two-tower model beats several times over. Ratings
(`task="ranking"`) map the same score to 1..5 stars, with noise.
"""

from __future__ import annotations

import numpy as np

from nbmodels.checks import check_choice, check_fraction, check_int
from nbmodels.data.recsys.splits import SPLITS, leave_last_out_indices, random_split_indices
from nbmodels.data.registry import Dataset, register

RECSYS_TASKS = ("retrieval", "ranking")  # the `task` option; ranking gives a "regression" Dataset

# Genres and title words tied to them: a title tokenizer finds the genre in the first word.
GENRE_WORDS = {
    "Action": ("Fury", "Strike", "Blast", "Chase"),
    "Comedy": ("Giggle", "Prank", "Banana", "Hiccup"),
    "Drama": ("Tears", "Promise", "Letters", "Silence"),
    "Horror": ("Crypt", "Scream", "Shadow", "Blood"),
    "Romance": ("Kiss", "Heart", "Rose", "Wedding"),
    "Sci-Fi": ("Galaxy", "Robot", "Laser", "Quantum"),
    "Documentary": ("Truth", "Planet", "Archive", "Witness"),
    "Animation": ("Toon", "Bunny", "Doodle", "Pixel"),
    "Western": ("Saddle", "Canyon", "Outlaw", "Dust"),
    "Mystery": ("Clue", "Riddle", "Alibi", "Cipher"),
    "Fantasy": ("Dragon", "Wizard", "Elf", "Spell"),
    "Musical": ("Melody", "Chorus", "Rhythm", "Encore"),
}
ADJECTIVES = ("Silent", "Golden", "Last", "Hidden", "Broken", "Bright", "Distant", "Lost", "Final", "Secret")
NOUNS = ("River", "City", "Night", "Road", "Garden", "Letter", "Island", "Winter", "Mirror", "Season")

TEMPERATURE = 0.08  # sharp: a user's choices are mostly their favourite genre, some their second
ITEM_BIAS_STD = 0.8  # popularity skew: strong enough that popularity beats chance ~4-5x
SECOND_GENRE_RATE = 0.3  # share of items with a second genre
AGE_GROUPS = 7  # user_features["age_group"] ids, 0..6, as MovieLens' age buckets
RATING_NOISE = 0.6  # std of the noise added to the standardised score before rounding to stars
TIME_START = 1_000_000_000  # Unix seconds (Sept 2001), where users' histories start


@register(
    "synthetic_interactions",
    description="Users choosing items by known latent factors and popularity, with genres, titles and ratings.",
    task=("retrieval", "regression"),
    source="generated",
)
def synthetic_interactions(
    *,
    n_users: int = 600,
    n_items: int = 400,
    dim: int = 8,
    clusters: int = 8,
    interactions_per_user: int = 30,
    task: str = "retrieval",
    split: str = "random",
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Interactions drawn from known user and item factors.

    Each user has between 2/3 and 4/3 of `interactions_per_user` distinct items, drawn in
    order from the softmax over items (sampling without replacement), stamped at increasing
    times in a random order (so the latest is no more or less typical than the others).

    Args:
        n_users: number of users (ids 0..n_users-1).
        n_items: number of items (ids 0..n_items-1).
        dim: width of the true factors.
        clusters: number of genres (2..12); items are spread evenly over them.
        interactions_per_user: average number of distinct items per user.
        task: `"retrieval"` (positive pairs, no targets) or `"ranking"` (a regression
            Dataset whose targets are float32 ratings 1..5).
        split: `"random"` (hold out `validation_split` of the interactions) or
            `"leave_last_out"` (each user's latest interaction is held out).
        validation_split: fraction held out by `split="random"`, in (0, 1).
        seed: the same seed gives the same factors, interactions and split.

    Returns:
        A Dataset with x = {"user", "item"} int32 ids; `ground_truth` holds `user_factors`
        (n_users, dim), `item_factors` (n_items, dim), `item_bias` (n_items,),
        `item_clusters` (n_items,), `user_clusters` (n_users,) (each user's favourite) and
        `temperature`: choices follow `softmax(user . item / temperature + item_bias)`;
        `extras` holds `num_users`, `num_items`, `item_titles`, `item_genres` (n_items,
        clusters) float32 multi-hot, `genre_names`, `user_features` ({"age_group": int32}),
        `timestamps` (train, int64), `validation_timestamps` and `item_counts` (train, int64).

    Example:

    >>> import numpy as np
    >>> from nbmodels import data
    >>> ds = data.load("synthetic_interactions", n_users=50, n_items=40, interactions_per_user=6)
    >>> ds.summary()
    'synthetic_interactions: retrieval, train x {user: () int32, item: () int32} -> no y, 246 examples, validation 61, source generated'
    >>> ds.extras["item_titles"][0], ds.extras["genre_names"][:3]
    ('Archive Final Season #0', ['Action', 'Comedy', 'Drama'])
    >>> truth = ds.ground_truth
    >>> chosen = (truth["user_factors"][ds.train[0]["user"]] * truth["item_factors"][ds.train[0]["item"]]).sum(1)
    >>> bool(chosen.mean() > (truth["user_factors"] @ truth["item_factors"].T).mean())
    True
    """
    owner = "load('synthetic_interactions')"
    n_users = check_int(owner, "n_users", n_users, minimum=2)
    n_items = check_int(owner, "n_items", n_items, minimum=2)
    dim = check_int(owner, "dim", dim, minimum=1)
    clusters = check_int(owner, "clusters", clusters, minimum=2, maximum=min(len(GENRE_WORDS), n_items),
                         why=f"one genre each, at most {len(GENRE_WORDS)} and at most n_items")
    interactions_per_user = check_int(owner, "interactions_per_user", interactions_per_user, minimum=1,
                                      maximum=n_items, why="items are distinct per user")
    task = check_choice(owner, "task", task, RECSYS_TASKS)
    split = check_choice(owner, "split", split, SPLITS)
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    genre_names = list(GENRE_WORDS)[:clusters]
    centres = rng.standard_normal((clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    item_clusters = rng.permutation(np.arange(n_items) % clusters).astype(np.int32)  # even genres
    second = (item_clusters + rng.integers(1, clusters, n_items)) % clusters
    has_second = rng.random(n_items) < SECOND_GENRE_RATE
    item_factors = (centres[item_clusters] + 0.3 * has_second[:, None] * centres[second]
                    + 0.45 * rng.standard_normal((n_items, dim)) / np.sqrt(dim)).astype(np.float32)
    item_bias = (ITEM_BIAS_STD * rng.standard_normal(n_items)).astype(np.float32)
    item_genres = np.zeros((n_items, clusters), np.float32)
    item_genres[np.arange(n_items), item_clusters] = 1.0
    item_genres[np.flatnonzero(has_second), second[has_second]] = 1.0

    user_clusters = rng.permutation(np.arange(n_users) % clusters).astype(np.int32)  # even tastes
    user_second = (user_clusters + rng.integers(1, clusters, n_users)) % clusters
    user_factors = (0.75 * centres[user_clusters] + 0.35 * centres[user_second]
                    + 0.3 * rng.standard_normal((n_users, dim)) / np.sqrt(dim)).astype(np.float32)
    # Age follows the favourite genre for most users, so the feature carries some signal.
    age_group = np.where(rng.random(n_users) < 0.6, user_clusters % AGE_GROUPS,
                         rng.integers(0, AGE_GROUPS, n_users)).astype(np.int32)

    counts = rng.integers(max(1, interactions_per_user * 2 // 3),
                          min(n_items, interactions_per_user * 4 // 3) + 1, n_users)
    users, items, scores = _choose(rng, user_factors, item_factors, item_bias, counts)
    timestamps = _timestamps(rng, counts)
    ratings = _stars(rng, scores)

    if split == "random":
        train, validation = random_split_indices(users.size, validation_split, seed, owner=owner)
    else:
        train, validation = leave_last_out_indices(users, timestamps, owner=owner)
    targets = None if task == "retrieval" else ratings

    def part(rows):
        return {"user": users[rows], "item": items[rows]}, (None if targets is None else targets[rows])

    return Dataset(
        task="retrieval" if task == "retrieval" else "regression",
        train=part(train),
        validation=part(validation),
        ground_truth={
            "user_factors": user_factors,
            "item_factors": item_factors,
            "item_bias": item_bias,
            "item_clusters": item_clusters,
            "user_clusters": user_clusters,
            "temperature": TEMPERATURE,
        },
        extras={
            "num_users": n_users,
            "num_items": n_items,
            "item_titles": _titles(seed, item_clusters, genre_names),
            "item_genres": item_genres,
            "genre_names": genre_names,
            "user_features": {"age_group": age_group},
            "timestamps": timestamps[train],
            "validation_timestamps": timestamps[validation],
            "item_counts": np.bincount(items[train], minlength=n_items).astype(np.int64),
        },
    )


def _choose(rng, user_factors, item_factors, item_bias, counts):
    """Each user's `counts[u]` distinct items, drawn without replacement from the softmax of
    their scores (Gumbel top-k), in a random order. Returns users, items (int32) and the
    chosen pairs' scores."""
    n_users, n_items = len(user_factors), len(item_factors)
    users, items, scores = [], [], []
    block = max(1, 2**20 // n_items)  # users per block: bounds memory at ~1M scores
    for start in range(0, n_users, block):
        logits = user_factors[start:start + block] @ item_factors.T / TEMPERATURE + item_bias  # (B, I)
        keys = logits + rng.gumbel(size=logits.shape)
        # The top counts[u] keys, best first, are a draw without replacement (Gumbel top-k).
        k = int(counts[start:start + block].max())
        if k < n_items:
            top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        else:
            top = np.tile(np.arange(n_items), (len(keys), 1))
        order = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1), axis=1)
        for row, u in enumerate(range(start, min(start + block, n_users))):
            chosen = rng.permutation(order[row, :counts[u]])
            users.append(np.full(chosen.size, u, np.int32))
            items.append(chosen.astype(np.int32))
            scores.append(logits[row, chosen])
    return np.concatenate(users), np.concatenate(items), np.concatenate(scores)


def _timestamps(rng, counts):
    """Increasing times per user: a start within ~4 months, then gaps of 1 minute to 1 day."""
    starts = TIME_START + rng.integers(0, 10**7, counts.size)
    gaps = rng.integers(60, 86_400, int(counts.sum()))
    first = np.r_[0, np.cumsum(counts)[:-1]]
    gaps[first] = 0
    # cumulative gaps within each user: global cumsum minus the sum up to the user's first row
    total = np.cumsum(gaps)
    within = total - np.repeat(total[first], counts)
    return (np.repeat(starts, counts) + within).astype(np.int64)


def _stars(rng, scores):
    """1..5 float32 stars: the standardised score, spread around 3 stars, plus noise, rounded."""
    z = (scores - scores.mean()) / max(float(scores.std()), 1e-6)
    return np.clip(np.round(3.0 + 1.1 * z + RATING_NOISE * rng.standard_normal(z.size)), 1, 5).astype(np.float32)


def _titles(seed, item_clusters, genre_names):
    """Readable, unique titles: '<genre word> <adjective> <noun> #<id>'. Their own random
    stream, so titles stay put when the other draws change."""
    rng = np.random.default_rng([seed, 1])
    return [
        f"{rng.choice(GENRE_WORDS[genre_names[c]])} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} #{i}"
        for i, c in enumerate(item_clusters)
    ]
