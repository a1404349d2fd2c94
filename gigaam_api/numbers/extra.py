"""Whether the optional `numbers` extra is installed, found without importing it (the HTTP layer asks)."""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "install the `numbers` extra on the server (`uv sync --extra numbers`, or `pip install damga`)"


def digits_available() -> bool:
    """True when damga, which writes the digits, can be imported."""
    return importlib.util.find_spec("damga") is not None
