"""Language codes (ISO 639-1, what requests send) and the English names OpenAI's bodies report. Pure."""

from __future__ import annotations

import re

NAMES: dict[str, str] = {
    "ar": "arabic",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "fa": "persian",
    "fi": "finnish",
    "fil": "filipino",
    "fr": "french",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "mk": "macedonian",
    "ms": "malay",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sv": "swedish",
    "th": "thai",
    "tr": "turkish",
    "uk": "ukrainian",
    "vi": "vietnamese",
    "yue": "cantonese",
    "zh": "chinese",
}
_CODES = {name: code for code, name in NAMES.items()} | {"rus": "ru", "eng": "en"}


def language_code(value: str) -> str | None:
    """`ru`, `ru-RU`, `ru_RU`, `Russian`, `rus` → `ru`; None if it names no language we know."""
    text = value.strip().lower()
    primary = re.split(r"[-_]", text, maxsplit=1)[0]
    if primary in NAMES:
        return primary
    return _CODES.get(text) or _CODES.get(primary)


def language_name(code: str | None) -> str:
    """The name verbose_json reports (`russian`); the code itself for one not in the table."""
    if code is None:
        return "unknown"
    return NAMES.get(code, code)
