"""MovieLens 100K and 1M (GroupLens): movie ratings as user and item ids, with titles, genres
and user features.

`load("movielens_100k")` downloads GroupLens' zip once into `nbmodels.data.data_dir()` and
unpacks it there; `path=` reads a folder of the original files instead (no network). Users and
movies get dense ids in the order of their original ids (`extras["user_ids"]` and
`extras["item_ids"]` map back). Every rating is an interaction, as in the TensorFlow
Recommenders tutorials; `min_rating=4` keeps only the liked ones for retrieval.

Files read (latin-1, as GroupLens wrote them):

- 100K: `u.data` (tab-separated user, item, rating, timestamp), `u.item` (`|`-separated:
  id, title, release date, video date, URL, then 19 genre flags), `u.user` (optional: id, age,
  gender, occupation, zip) and `u.genre` (optional: the genre names).
- 1M: `ratings.dat` (`::`-separated user, movie, rating, timestamp), `movies.dat`
  (id::title::Genre|Genre) and `users.dat` (optional: id::gender::age code::occupation::zip).

Example:

>>> import tempfile
>>> from pathlib import Path
>>> from nbmodels import data
>>> scratch = tempfile.TemporaryDirectory()
>>> folder = Path(scratch.name)
>>> _ = (folder / "u.data").write_text("7\\t20\\t5\\t880000000\\n7\\t10\\t3\\t880000100\\n9\\t20\\t4\\t880000200\\n")
>>> flags = "|".join(["0"] * 18)
>>> movies = f"10|Amélie (2001)|||url|{flags}|1\\n20|Heat (1995)|||url|1|{flags}\\n"
>>> _ = (folder / "u.item").write_bytes(movies.encode("latin-1"))  # GroupLens' encoding
>>> ds = data.load("movielens_100k", path=folder, split="leave_last_out")
>>> ds.train[0]["user"].tolist(), ds.train[0]["item"].tolist(), ds.validation[0]["item"].tolist()
([0, 1], [1, 1], [0])
>>> ds.extras["item_titles"], ds.extras["item_ids"].tolist()
(['Amélie (2001)', 'Heat (1995)'], [10, 20])
>>> scratch.cleanup()
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nbmodels.checks import ConfigError, check_choice, check_float, check_fraction, check_int
from nbmodels.data.network import data_dir, fetch
from nbmodels.data.recsys.interactions import RECSYS_TASKS
from nbmodels.data.recsys.splits import SPLITS, leave_last_out_indices, random_split_indices
from nbmodels.data.registry import Dataset, register

URLS = {
    "movielens_100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "movielens_1m": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
}
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
GENRES_1M = GENRES_100K[1:]  # the 1M README lists the same genres, without "unknown"
# MovieLens 1M's age codes (the lower bound of each bucket); 100K's ages are bucketed the same way.
AGE_CODES = (1, 18, 25, 35, 45, 50, 56)
AGE_GROUP_NAMES = ("Under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
OCCUPATIONS_1M = (
    "other or not specified", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student",
    "lawyer", "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)
GENDERS = ("F", "M")


@register(
    "movielens_100k",
    description="100,000 ratings by 943 users of 1,682 movies (GroupLens), with titles, genres and user features.",
    task=("retrieval", "regression"),
    source="download",
)
def movielens_100k(
    *,
    path: str | os.PathLike | None = None,
    task: str = "retrieval",
    split: str = "random",
    min_rating: float | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """MovieLens 100K; see the module docstring for the files and the ids.

    Args:
        path: a folder holding `u.data` and `u.item` (and optionally `u.user`, `u.genre`),
            e.g. the unpacked `ml-100k`; None downloads them.
        task: `"retrieval"` (every rating is a positive pair, no targets) or `"ranking"`
            (a regression Dataset whose targets are the float32 ratings 1..5).
        split: `"random"` (hold out `validation_split` of the ratings) or `"leave_last_out"`
            (each user's latest rating is held out).
        min_rating: retrieval only: keep ratings >= this as positives (None keeps all).
        validation_split: fraction held out by `split="random"`, in (0, 1).
        seed: the random split's seed.
    """
    return _load("movielens_100k", path, task, split, min_rating, validation_split, seed)


@register(
    "movielens_1m",
    description="1,000,209 ratings by 6,040 users of 3,883 movies (GroupLens), with titles, genres and user features.",
    task=("retrieval", "regression"),
    source="download",
)
def movielens_1m(
    *,
    path: str | os.PathLike | None = None,
    task: str = "retrieval",
    split: str = "random",
    min_rating: float | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """MovieLens 1M; the options are `movielens_100k`'s, with `path` a folder holding
    `ratings.dat` and `movies.dat` (and optionally `users.dat`), e.g. the unpacked `ml-1m`."""
    return _load("movielens_1m", path, task, split, min_rating, validation_split, seed)


def _files(name):
    """(ratings file, movies file, users file) of the set; the users file is optional."""
    return ("u.data", "u.item", "u.user") if name == "movielens_100k" else ("ratings.dat", "movies.dat", "users.dat")


def _load(name, path, task, split, min_rating, validation_split, seed) -> Dataset:
    owner = f"load({name!r})"
    task = check_choice(owner, "task", task, RECSYS_TASKS)
    split = check_choice(owner, "split", split, SPLITS)
    if min_rating is not None:
        if task != "retrieval":
            raise ConfigError(owner, "min_rating", min_rating, "None with task='ranking'", message=(
                f"{owner}.min_rating={min_rating!r} is not allowed with task='ranking': min_rating picks the "
                "positives for retrieval; ranking learns every rating. Leave min_rating=None."
            ))
        min_rating = check_float(owner, "min_rating", min_rating)
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)

    folder = _download(name) if path is None else _local_folder(name, path, owner)
    read = _read_100k if name == "movielens_100k" else _read_1m
    ratings, movies, users = read(folder)
    return _dataset(owner, folder, name, ratings, movies, users, task, split, min_rating, validation_split, seed)


def _local_folder(name, path, owner) -> Path:
    """The folder holding the ratings file: `path` itself, or the unpacked ml-* folder inside it."""
    folder = Path(path).expanduser()
    ratings_file, movies_file, _ = _files(name)
    unpacked = folder / ("ml-100k" if name == "movielens_100k" else "ml-1m")
    if not (folder / ratings_file).is_file() and (unpacked / ratings_file).is_file():
        folder = unpacked
    for required in (ratings_file, movies_file):
        if not (folder / required).is_file():
            raise ValueError(
                f"{owner}: the folder {str(folder)!r} has no {required!r} "
                f"({'it does not exist' if not folder.is_dir() else 'MovieLens keeps it there'}). Pass path= the "
                f"unpacked folder of {URLS[name]} (it holds {ratings_file} and {movies_file}), or path=None to "
                "download it; load('synthetic_interactions') works offline."
            )
    return folder


def _download(name) -> Path:
    ratings_file, _, _ = _files(name)
    folder = data_dir() / "movielens" / Path(URLS[name]).stem  # .../movielens/ml-100k
    if (folder / ratings_file).is_file():
        return folder
    archive = fetch(URLS[name], what=f"MovieLens ({name})", alternative=(
        f"load({name!r}, path=...) reads a folder of the original files you already have, and "
        "load('synthetic_interactions') works offline."
    ))
    # Unpack next to the target and rename into place, so an interrupted unpack leaves no half folder.
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        try:
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(staging)
        except zipfile.BadZipFile:
            archive.unlink()
            raise ValueError(
                f"The download of {URLS[name]} is not a zip archive; it was removed from the cache. Load again to "
                f"retry, or pass path= a folder of the original files."
            ) from None
        os.replace(staging / folder.name, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _read_100k(folder: Path):
    ratings = _int_table(folder / "u.data", 4, None)
    genres = GENRES_100K
    if (folder / "u.genre").is_file():  # "name|index" lines
        genres = tuple(_rows(folder / "u.genre", "|", lambda f: f[-2], "name|index"))
    g = len(genres)

    def movie(fields):  # id|title|release date|video date|URL|genre flags (a title may hold "|")
        if len(fields) < 5 + g:
            raise ValueError
        return int(fields[0]), "|".join(fields[1:len(fields) - 3 - g]), [float(flag) for flag in fields[-g:]]

    expected = f"id|title|release date|video date|URL|{g} genre flags"
    ids, titles, flags = zip(*_rows(folder / "u.item", "|", movie, expected))
    movies = (np.array(ids, np.int64), list(titles), np.array(flags, np.float32), list(genres))

    users = None
    if (folder / "u.user").is_file():
        rows = _rows(folder / "u.user", "|", lambda f: (int(f[0]), int(f[1]), GENDERS.index(f[2]), f[3]),
                     "id|age|gender (F or M)|occupation|zip")
        occupations = sorted({row[3] for row in rows})  # u.occupation lists them alphabetically too
        ids, ages, genders, names = zip(*rows)
        users = _users(ids, genders, ages, [occupations.index(name) for name in names], occupations)
    return ratings, movies, users


def _read_1m(folder: Path):
    ratings = _int_table(folder / "ratings.dat", 4, "::")

    def movie(fields):  # id::title::Genre|Genre
        if len(fields) < 3:
            raise ValueError
        return int(fields[0]), "::".join(fields[1:-1]), [name for name in fields[-1].split("|") if name]

    ids, titles, movie_genres = zip(*_rows(folder / "movies.dat", "::", movie, "id::title::Genre|Genre"))
    # The README's genres, then any others in the file (later MovieLens releases add some).
    genres = list(GENRES_1M) + sorted({name for names in movie_genres for name in names} - set(GENRES_1M))
    flags = np.zeros((len(ids), len(genres)), np.float32)
    for row, names in enumerate(movie_genres):
        flags[row, [genres.index(name) for name in names]] = 1.0
    movies = (np.array(ids, np.int64), list(titles), flags, genres)

    users = None
    if (folder / "users.dat").is_file():
        rows = _rows(folder / "users.dat", "::", lambda f: (int(f[0]), GENDERS.index(f[1]), int(f[2]), int(f[3])),
                     "id::gender (F or M)::age code::occupation id::zip")
        ids, genders, ages, occupations = zip(*rows)
        users = _users(ids, genders, ages, occupations, OCCUPATIONS_1M)
    return ratings, movies, users


def _users(ids, genders, ages, occupations, occupation_names):
    """(original ids, {feature: values}, {feature: value names}) of the users file's columns."""
    features = {
        # Ages (100K) and age codes (1M) alike fall into 1M's buckets.
        "age_group": np.searchsorted(AGE_CODES, ages, side="right").clip(1) - 1,
        "gender": np.array(genders),
        "occupation": np.array(occupations),
    }
    names = {"age_group": list(AGE_GROUP_NAMES), "gender": list(GENDERS), "occupation": list(occupation_names)}
    return np.array(ids, np.int64), features, names


def _dataset(owner, folder, name, ratings, movies, users, task, split, min_rating, validation_split, seed):
    _, movies_file, users_file = _files(name)
    if min_rating is not None:
        ratings = ratings[ratings[:, 2] >= min_rating]
        if len(ratings) == 0:
            raise ValueError(f"{owner}: no rating is >= min_rating={min_rating}; lower it or pass None.")
    movie_ids, titles, genres, genre_names = movies
    item = _dense(movie_ids, ratings[:, 1], f"{owner}: {movies_file} in {str(folder)!r}", "movie")
    user_features, feature_names = {}, {}
    if users is None:
        user_ids = np.unique(ratings[:, 0])
        user = np.searchsorted(user_ids, ratings[:, 0])
    else:
        listed, features, feature_names = users
        user = _dense(listed, ratings[:, 0], f"{owner}: {users_file} in {str(folder)!r}", "user")
        by_id = np.argsort(listed)  # dense ids follow the original ids' order
        user_ids = listed[by_id]
        user_features = {key: np.asarray(values)[by_id].astype(np.int32) for key, values in features.items()}
    by_id = np.argsort(movie_ids)

    x = {"user": user.astype(np.int32), "item": item.astype(np.int32)}
    y = ratings[:, 2].astype(np.float32)
    timestamps = ratings[:, 3].astype(np.int64)
    if split == "random":
        train, validation = random_split_indices(len(y), validation_split, seed, owner=owner)
    else:
        train, validation = leave_last_out_indices(x["user"], timestamps, owner=owner)

    def part(rows):
        return {key: values[rows] for key, values in x.items()}, (None if task == "retrieval" else y[rows])

    return Dataset(
        task="retrieval" if task == "retrieval" else "regression",
        train=part(train),
        validation=part(validation),
        extras={
            "num_users": len(user_ids),
            "num_items": len(movie_ids),
            "item_titles": [titles[i] for i in by_id],
            "item_genres": genres[by_id],
            "genre_names": list(genre_names),
            "user_features": user_features,
            "user_feature_names": feature_names,
            "user_ids": user_ids,
            "item_ids": movie_ids[by_id],
            "timestamps": timestamps[train],
            "validation_timestamps": timestamps[validation],
            "item_counts": np.bincount(x["item"][train], minlength=len(movie_ids)).astype(np.int64),
        },
    )


def _dense(listed: np.ndarray, rated: np.ndarray, where: str, what: str) -> np.ndarray:
    """Dense ids (positions in the sorted `listed` ids) of the `rated` original ids."""
    known = np.sort(listed)
    if len(np.unique(known)) != len(known):
        raise ValueError(f"{where} lists a {what} id twice; each {what} must have one line.")
    position = np.minimum(np.searchsorted(known, rated), len(known) - 1)
    missing = rated[known[position] != rated]
    if missing.size:
        raise ValueError(
            f"{where} has no line for {what} id {int(missing.min())}, which is rated; "
            "use the complete files of one MovieLens release."
        )
    return position


def _lines(path: Path) -> list[str]:
    # GroupLens wrote these files in latin-1 (titles such as "Amélie").
    return [line for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def _rows(path: Path, separator: str, parse, expected: str) -> list:
    """`parse(fields)` of every line; a line it cannot parse is reported with its number."""
    rows = []
    for number, line in enumerate(_lines(path), 1):
        try:
            rows.append(parse(line.split(separator)))
        except (ValueError, IndexError):
            _bad_line(path, number, line, expected)
    if not rows:
        raise ValueError(f"{str(path)!r} is empty. Pass path= a folder of the original, unmodified MovieLens files.")
    return rows


def _int_table(path: Path, columns: int, separator: str | None) -> np.ndarray:
    """The ratings file as an int64 (N, columns) array: user, item, rating, timestamp."""
    text = path.read_text(encoding="latin-1")
    try:  # the fast path, for the well-formed file
        values = np.array((text.replace(separator, " ") if separator else text).split(), dtype=np.int64)
        if values.size and values.size % columns == 0:
            return values.reshape(-1, columns)
    except ValueError:
        pass

    def whole_numbers(fields):
        if len(fields) != columns:
            raise ValueError
        return [int(field) for field in fields]

    return np.array(_rows(path, separator, whole_numbers, f"{columns} whole numbers: user, item, rating, timestamp"),
                    np.int64)


def _bad_line(path: Path, number: int, line: str, expected: str):
    raise ValueError(
        f"{str(path)!r} line {number} reads {line[:80]!r}; MovieLens lines there hold {expected}. "
        "Pass path= a folder of the original, unmodified files."
    )
