"""Downloads for real, against a local HTTP server and a closed port: no internet needed."""

import http.server
import socket
import threading

import pytest

from nbmodels import data
from nbmodels.data import network

BODY = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n" * 20


class _Handler(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):
        _Handler.requests.append(self.path)
        if self.path == "/sonnet.txt":
            payload = BODY.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        elif self.path == "/cut.txt":
            # Promise 1000 bytes, send 10, hang up: a transfer cut off midway.
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    # A port that was free a moment ago: connecting to it is refused, like being offline.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.txt"


def _files(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_data_dir_follows_the_environment(cache_dir, monkeypatch):
    assert data.data_dir() == cache_dir
    monkeypatch.delenv("NBMODELS_DATA_DIR")
    assert str(data.data_dir()).endswith(".nbmodels/data")


def test_fetch_downloads_once_then_reads_the_cache(server, cache_dir):
    path = data.fetch(f"{server}/sonnet.txt")
    assert path.parent == cache_dir and path.name.endswith("-sonnet.txt")
    assert path.read_text() == BODY
    assert data.fetch(f"{server}/sonnet.txt") == path
    assert _Handler.requests == ["/sonnet.txt"]
    assert _files(cache_dir) == [path.name]  # no temporary file left behind


def test_closed_port_raises_download_error_naming_url_reason_and_alternative(closed_port_url, cache_dir):
    with pytest.raises(data.DownloadError) as error:
        data.load_text(closed_port_url)
    message = str(error.value)
    assert message.startswith(f"Could not download {closed_port_url}: ")
    assert "refused" in message.lower()
    assert "offline" in message and "nbmodels.data.text_corpus()" in message
    assert isinstance(error.value, ConnectionError)
    assert error.value.what == closed_port_url and error.value.reason
    assert _files(cache_dir) == []


def test_http_error_says_the_server_answered(server, cache_dir):
    with pytest.raises(data.DownloadError, match="HTTP 404 Not Found.*check the address") as error:
        data.fetch(f"{server}/missing.txt", what="the sonnets")
    assert str(error.value).startswith("Could not download the sonnets: ")
    assert _files(cache_dir) == []


def test_cut_off_transfer_is_an_error_and_leaves_no_partial_file(server, cache_dir):
    with pytest.raises(data.DownloadError, match="990 bytes still to come"):
        data.fetch(f"{server}/cut.txt")
    assert _files(cache_dir) == []
    # Nothing was cached, so the next call tries the network again.
    with pytest.raises(data.DownloadError):
        data.fetch(f"{server}/cut.txt")
    assert _Handler.requests == ["/cut.txt", "/cut.txt"]


def test_interrupted_download_leaves_no_partial_file(server, cache_dir, monkeypatch):
    def interrupted(source, destination, *args):
        destination.write(source.read(10))
        raise KeyboardInterrupt

    monkeypatch.setattr(network.shutil, "copyfileobj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.fetch(f"{server}/sonnet.txt")
    assert _files(cache_dir) == []


def test_other_failures_are_not_disguised_as_download_errors(server, cache_dir, monkeypatch):
    def disk_full(source, destination, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(network.shutil, "copyfileobj", disk_full)
    with pytest.raises(OSError, match="No space left") as error:
        data.fetch(f"{server}/sonnet.txt")
    assert not isinstance(error.value, data.DownloadError)
    assert _files(cache_dir) == []


@pytest.mark.parametrize(
    "url, options, fragment",
    [
        ("ftp://example.com/a.txt", {}, "http:// or https://"),
        ("http://example.com/a.txt", {"timeout": 0}, "timeout=0"),
    ],
)
def test_fetch_checks_its_arguments(url, options, fragment, cache_dir):
    with pytest.raises(ValueError, match=fragment):
        data.fetch(url, **options)


def test_text_file_over_a_url_gives_char_windows(server, cache_dir):
    ds = data.load("text_file", path=f"{server}/sonnet.txt", context=16)
    assert (ds.name, ds.source, ds.tokens_per_sample) == ("text_file", "download", 16)
    assert "".join(ds.extras["vocab"][i] for i in ds.train[0][0]) == BODY[:16]


def test_text_file_offline_names_the_url_and_the_embedded_text(closed_port_url, cache_dir):
    with pytest.raises(data.DownloadError, match="load\\('python_docs'\\)") as error:
        data.load("text_file", path=closed_port_url)
    assert closed_port_url in str(error.value)
