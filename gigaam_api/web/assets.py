"""The page's files, shipped inside the package (`static/`), and the paths that serve them.

A fixed list, not a directory listing: nothing but these files can be fetched, and the auth
middleware can exempt exactly these paths (the page must load without a key so it can ask for one).
"""

from __future__ import annotations

from importlib.resources import files

PAGE_PATH = "/"
ASSET_PREFIX = "/web/"
MEDIA_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "live-capture.js": "text/javascript; charset=utf-8",  # the AudioWorklet live.js loads
    "i18n.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
ASSETS = tuple(name for name in MEDIA_TYPES if name != "index.html")  # index.html is served at `/`
PUBLIC_PAGE_PATHS = frozenset({PAGE_PATH, *(ASSET_PREFIX + name for name in ASSETS)})


def read_asset(name: str) -> bytes:
    return (files(__package__) / "static" / name).read_bytes()
