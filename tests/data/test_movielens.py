"""MovieLens 100K and 1M, read from tiny folders written here in GroupLens' own formats (the
real files are never part of the project), downloaded from a local server, and refused clearly."""

import doctest
import functools
import http.server
import importlib
import socket
import threading
import zipfile

import numpy as np
import pytest

from nbmodels import data
from nbmodels.data.recsys import movielens

FLAGS_100K = 19  # genre flags at the end of each u.item line
# (user, movie, rating, timestamp): original ids are sparse; user 3 rated twice, user 12 three times.
RATINGS = [(12, 40, 4, 300), (3, 9, 5, 100), (12, 5, 2, 100), (8, 40, 1, 50), (3, 40, 3, 200), (12, 9, 5, 200)]


def _flags(*genres):
    return "|".join("1" if i in genres else "0" for i in range(FLAGS_100K))


def write_100k(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS))
    movies = [  # id|title|release date|video release date|IMDb URL|19 genre flags (Action=1, Comedy=5, Romance=14)
        f"5|Toy Story (1995)|01-Jan-1995||http://imdb|{_flags(5)}",
        f"9|Amélie (2001)|01-Jan-2001||http://imdb|{_flags(5, 14)}",
        f"40|Heat (1995)|01-Jan-1995||http://imdb|{_flags(1)}",
        f"41|Never Rated (1990)|01-Jan-1990||http://imdb|{_flags(0)}",
    ]
    (folder / "u.item").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("3|24|M|technician|85711\n8|53|F|other|94043\n12|17|M|writer|32067\n")
    return folder


def write_1m(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in RATINGS))
    movies = ["5::Toy Story (1995)::Animation|Children's|Comedy", "9::Amélie (2001)::Comedy|Romance",
              "40::Heat (1995)::Action|Crime|Thriller"]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    (folder / "users.dat").write_text("3::M::25::17::85711\n8::F::50::0::94043\n12::M::1::20::32067\n")
    return folder


def _pairs(split):
    x, _ = split
    return sorted(zip(x["user"].tolist(), x["item"].tolist()))


def test_100k_folder_ids_are_remapped_with_titles_genres_and_user_features(tmp_path):
    ds = data.load("movielens_100k", path=write_100k(tmp_path / "ml-100k"), split="leave_last_out")
    assert (ds.name, ds.task, ds.source) == ("movielens_100k", "retrieval", "download")
    extras = ds.extras
    # Users 3, 8, 12 -> 0, 1, 2; movies 5, 9, 40, 41 -> 0, 1, 2, 3 (41 is in the catalogue, never rated).
    assert extras["user_ids"].tolist() == [3, 8, 12] and extras["item_ids"].tolist() == [5, 9, 40, 41]
    assert (extras["num_users"], extras["num_items"]) == (3, 4)
    # Each user's latest rating is held out: user 3's (9 at 100, 40 at 200) -> 40; user 12's -> 40 at 300.
    assert _pairs(ds.validation) == [(0, 2), (2, 2)]
    assert _pairs(ds.train) == [(0, 1), (1, 2), (2, 0), (2, 1)]
    assert ds.train[0]["user"].dtype == np.int32 and ds.train[1] is None
    assert extras["item_titles"] == ["Toy Story (1995)", "Amélie (2001)", "Heat (1995)", "Never Rated (1990)"]
    genres = extras["item_genres"]
    assert genres.dtype == np.float32 and genres.shape == (4, 19) and extras["genre_names"][:2] == ["unknown", "Action"]
    assert [np.flatnonzero(row).tolist() for row in genres] == [[5], [5, 14], [1], [0]]
    assert extras["genre_names"][14] == "Romance"
    features = extras["user_features"]
    assert features["age_group"].tolist() == [1, 5, 0]  # ages 24, 53, 17: buckets 18-24, 50-55, under 18
    assert features["gender"].tolist() == [1, 0, 1]
    names = extras["user_feature_names"]["occupation"]
    assert [names[i] for i in features["occupation"]] == ["technician", "other", "writer"]
    assert extras["item_counts"].tolist() == [1, 2, 1, 0]
    assert sorted(extras["timestamps"].tolist()) == [50, 100, 100, 200]


def test_1m_folder_reads_double_colon_files(tmp_path):
    ds = data.load("movielens_1m", path=write_1m(tmp_path / "ml-1m"), task="ranking", split="leave_last_out")
    assert ds.task == "regression" and ds.train[1].dtype == np.float32
    assert sorted(zip(ds.validation[0]["user"].tolist(), ds.validation[1].tolist())) == [(0, 3.0), (2, 4.0)]
    extras = ds.extras
    assert extras["item_titles"] == ["Toy Story (1995)", "Amélie (2001)", "Heat (1995)"]
    names = extras["genre_names"]
    assert names[:3] == ["Action", "Adventure", "Animation"] and len(names) == 18
    assert [[names[g] for g in np.flatnonzero(row)] for row in extras["item_genres"]] == [
        ["Animation", "Children's", "Comedy"], ["Comedy", "Romance"], ["Action", "Crime", "Thriller"]]
    features = extras["user_features"]
    assert features["age_group"].tolist() == [2, 5, 0] and features["gender"].tolist() == [1, 0, 1]
    assert [extras["user_feature_names"]["occupation"][i] for i in features["occupation"]] == [
        "technician/engineer", "other or not specified", "writer"]


def test_retrieval_keeps_every_rating_unless_min_rating_is_given(tmp_path):
    folder = write_100k(tmp_path)
    every = data.load("movielens_100k", path=folder, validation_split=0.5)
    assert len(every.train[0]["user"]) + len(every.validation[0]["user"]) == len(RATINGS)
    liked = data.load("movielens_100k", path=folder, min_rating=4, validation_split=0.5)
    assert sorted(_pairs(liked.train) + _pairs(liked.validation)) == [(0, 1), (2, 1), (2, 2)]
    with pytest.raises(ValueError, match="min_rating=4 is not allowed with task='ranking'"):
        data.load("movielens_100k", path=folder, task="ranking", min_rating=4)


def test_ranking_targets_are_the_ratings(tmp_path):
    ds = data.load("movielens_100k", path=write_100k(tmp_path), task="ranking", validation_split=0.5, seed=3)
    ratings = {(u, i): r for u, i, r, _ in RATINGS}
    users, items = [3, 8, 12], [5, 9, 40, 41]
    for (x, y) in (ds.train, ds.validation):
        assert [ratings[users[u], items[i]] for u, i in zip(x["user"], x["item"])] == y.tolist()


def test_path_may_be_the_folder_above_the_unpacked_one(tmp_path):
    write_100k(tmp_path / "ml-100k")
    assert data.load("movielens_100k", path=tmp_path).extras["num_items"] == 4


def test_a_folder_without_the_ratings_file_names_it_the_folder_and_the_fix(tmp_path):
    folder = write_100k(tmp_path / "movies")
    (folder / "u.data").unlink()
    with pytest.raises(ValueError, match="has no 'u.data'") as error:
        data.load("movielens_100k", path=folder)
    message = str(error.value)
    assert str(folder) in message and "ml-100k.zip" in message and "synthetic_interactions" in message
    with pytest.raises(ValueError, match="has no 'ratings.dat'"):
        data.load("movielens_1m", path=tmp_path / "nowhere")


def test_without_a_users_file_there_are_no_user_features(tmp_path):
    folder = write_100k(tmp_path)
    (folder / "u.user").unlink()
    ds = data.load("movielens_100k", path=folder)
    assert ds.extras["user_features"] == {} and ds.extras["user_ids"].tolist() == [3, 8, 12]


@pytest.mark.parametrize(
    "file, text, fragment",
    [
        ("u.data", "3\t9\t5\n", "line 1 reads '3\\t9\\t5'"),
        ("u.item", "5|Toy Story (1995)|1|0\n", "'5|Toy Story (1995)|1|0'"),
        ("u.user", "3|24|M|technician|85711\n", "no line for user id 8"),
        ("u.user", "3|24|X|technician|85711\n", "id|age|gender (F or M)"),
    ],
)
def test_malformed_files_are_named_with_the_line(tmp_path, file, text, fragment):
    folder = write_100k(tmp_path)
    (folder / file).write_text(text)
    with pytest.raises(ValueError) as error:
        data.load("movielens_100k", path=folder)
    assert fragment in str(error.value) and file in str(error.value)


@pytest.mark.parametrize(
    "options, fragment",
    [({"task": "rank"}, "task='rank' is not allowed"), ({"split": "time"}, "split='time' is not allowed"),
     ({"threshold": 4}, "option='threshold' is not allowed")],
)
def test_bad_options_are_named(tmp_path, options, fragment):
    with pytest.raises(ValueError, match="is not allowed") as error:
        data.load("movielens_100k", path=write_100k(tmp_path), **options)
    assert fragment in str(error.value)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def zip_server(tmp_path):
    """A local HTTP server with ml-100k.zip (the tiny folder, zipped as GroupLens does)."""
    served = tmp_path / "served"
    served.mkdir()
    folder = write_100k(tmp_path / "src" / "ml-100k")
    with zipfile.ZipFile(served / "ml-100k.zip", "w") as archive:
        for file in folder.iterdir():
            archive.write(file, f"ml-100k/{file.name}")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ml-100k.zip"
    httpd.shutdown()
    httpd.server_close()


def test_download_unpacks_into_the_cache_once(zip_server, cache_dir, monkeypatch):
    monkeypatch.setitem(movielens.URLS, "movielens_100k", zip_server)
    ds = data.load("movielens_100k")
    assert ds.extras["item_titles"][1] == "Amélie (2001)"
    assert (cache_dir / "movielens" / "ml-100k" / "u.data").is_file()
    # The unpacked folder is reused: no second download.
    monkeypatch.setitem(movielens.URLS, "movielens_100k", "http://127.0.0.1:1/ml-100k.zip")
    assert data.load("movielens_100k").extras["num_items"] == 4


def test_offline_download_names_the_offline_alternatives(cache_dir, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: like being offline
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setitem(movielens.URLS, "movielens_1m", f"http://127.0.0.1:{port}/ml-1m.zip")
    with pytest.raises(data.DownloadError) as error:
        data.load("movielens_1m")
    assert "path=" in str(error.value) and "load('synthetic_interactions')" in str(error.value)


def test_registered_as_downloads_with_the_same_options():
    infos = {info.name: info for info in data.list_datasets()}
    for name in ("movielens_100k", "movielens_1m"):
        assert (infos[name].task, infos[name].tasks, infos[name].source) == (
            "retrieval", ("retrieval", "regression"), "download")
        assert infos[name].options == ("path", "task", "split", "min_rating", "validation_split", "seed")


def test_docstring_examples_run():
    result = doctest.testmod(importlib.import_module("nbmodels.data.recsys.movielens"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
