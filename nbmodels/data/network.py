"""Downloading with a cache, and one way to report a failed download.

Files land in `data_dir()` (`~/.nbmodels/data`, or `$NBMODELS_DATA_DIR`). A download is
written to a temporary file in the same folder and renamed into place only when complete,
so an interrupted or failed download never leaves a half file that a later call would
mistake for the real thing.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from nbmodels.checks import check_float, fail

DATA_DIR_ENV = "NBMODELS_DATA_DIR"

OFFLINE_DATASETS = (
    "the embedded datasets work offline: see nbmodels.data.list_datasets() "
    "(source 'embedded' or 'generated')."
)


class DownloadError(ConnectionError):
    """A dataset or file could not be downloaded.

    The message names what was being downloaded, the underlying reason and an offline
    alternative. The same parts are on the `what`, `reason` and `alternative` attributes.
    """

    def __init__(self, message: str, *, what: str = "", reason: str = "", alternative: str = ""):
        super().__init__(message)
        self.what = what
        self.reason = reason
        self.alternative = alternative


def data_dir() -> Path:
    """The download cache folder: `$NBMODELS_DATA_DIR`, else `~/.nbmodels/data`."""
    return Path(os.environ.get(DATA_DIR_ENV) or "~/.nbmodels/data").expanduser()


@contextlib.contextmanager
def network_errors(what: str, alternative: str = OFFLINE_DATASETS):
    """Turn network failures raised inside the block into a `DownloadError`.

    Anything else (a full disk, a corrupt archive, a bug) passes through unchanged.
    """
    try:
        yield
    except DownloadError:
        raise
    except Exception as error:
        if not _is_network_error(error):
            raise
        reason = _reason(error)
        if _server_answered(error):
            hint = "The server answered with an error, so check the address;"
        else:
            hint = "You seem to be offline or the server is unreachable;"
        raise DownloadError(
            f"Could not download {what}: {reason}. {hint} {alternative}",
            what=what,
            reason=reason,
            alternative=alternative,
        ) from error


def fetch(
    url: str,
    *,
    what: str | None = None,
    alternative: str = OFFLINE_DATASETS,
    timeout: float = 30.0,
) -> Path:
    """Download `url` into the cache (once) and return the cached file's path.

    Args:
        url: an `http://` or `https://` address.
        what: how to name the download in an error message; defaults to the URL.
        alternative: the offline alternative an error message suggests.
        timeout: seconds to wait for the server to answer or send more data.

    Raises:
        DownloadError: no network, unreachable server, HTTP error or a cut-off transfer.

    Example:

    >>> from nbmodels.data import fetch
    >>> path = fetch("https://www.gutenberg.org/cache/epub/100/pg100.txt")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    '...-pg100.txt'
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        fail("fetch", "url", url, "pass an http:// or https:// address")
    timeout = check_float("fetch", "timeout", timeout, low=0, low_open=True, fix="Give the seconds to wait")
    target = data_dir() / _cache_name(url)
    if target.is_file():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, network_errors(what or url, alternative):
            request = urllib.request.Request(url, headers={"User-Agent": "nbmodels"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
                # http.client returns a short body silently when the server hangs up early.
                expected = response.headers.get("Content-Length")
                if expected is not None and expected.isdigit() and out.tell() != int(expected):
                    raise http.client.IncompleteRead(b"", int(expected) - out.tell())
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _cache_name(url: str) -> str:
    # The hash keeps different URLs apart; the base name keeps the cache readable.
    base = PurePosixPath(urllib.parse.urlsplit(url).path).name or "index"
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[-64:]
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{base}"


def _is_network_error(error: BaseException) -> bool:
    if isinstance(error, (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)):
        return True
    # keras.utils.get_file wraps URLError and HTTPError in a bare Exception with this text.
    return str(error).startswith("URL fetch failure")


def _server_answered(error: BaseException) -> bool:
    return isinstance(error, urllib.error.HTTPError) or re.search(r": \d{3} -- ", str(error)) is not None


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, http.client.IncompleteRead):
        return f"the connection closed with {error.expected} bytes still to come"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error).rstrip(".") or type(error).__name__
