"""Static files with a content hash in the URL, so browsers may keep them for a year.

`asset_url("css/safetycheck.css")` gives `/static/css/safetycheck.css?v=<hash>`. A request whose
`v` matches the file's current hash is answered with `Cache-Control: public, max-age=31536000,
immutable`; any other (an old page after a deploy, or no `v`) must revalidate, so nobody is
left with stale code.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Response, abort, request, send_from_directory, url_for
from werkzeug.security import safe_join

STATIC_DIR = Path(__file__).resolve().parent / "static"
ONE_YEAR = 365 * 24 * 3600


def asset_url(filename: str) -> str:
    """The URL of a file under safetycheck/web/static/, with its content hash."""
    return url_for("web.static", filename=filename, v=file_hash(filename))


def file_hash(filename: str) -> str:
    path = safe_join(str(STATIC_DIR), filename)
    if path is None:
        raise ValueError(f"not a static path: {filename}")
    stat = Path(path).stat()
    # Keyed on size and mtime too, so an edited file gets a new URL under `flask run --debug`.
    return _hash(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _hash(path: str, _size: int, _mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def serve_static(filename: str) -> Response:
    try:
        current = file_hash(filename)
    except (OSError, ValueError):
        abort(404)
    if request.args.get("v") == current:
        response = send_from_directory(STATIC_DIR, filename, max_age=ONE_YEAR)
        response.cache_control.immutable = True
    else:
        response = send_from_directory(STATIC_DIR, filename, max_age=None)
        response.cache_control.no_cache = True
    return response
