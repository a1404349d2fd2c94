"""The languages Qwen3-ASR transcribes: ISO 639-1 codes (what requests send) and the names qwen-asr takes."""

from __future__ import annotations

# qwen-asr 0.0.6's SUPPORTED_LANGUAGES (inference/utils.py), keyed by the code requests use.
QWEN_NAMES: dict[str, str] = {
    "zh": "Chinese",
    "en": "English",
    "yue": "Cantonese",
    "ar": "Arabic",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "id": "Indonesian",
    "it": "Italian",
    "ko": "Korean",
    "ru": "Russian",
    "th": "Thai",
    "vi": "Vietnamese",
    "ja": "Japanese",
    "tr": "Turkish",
    "hi": "Hindi",
    "ms": "Malay",
    "nl": "Dutch",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "pl": "Polish",
    "cs": "Czech",
    "fil": "Filipino",
    "fa": "Persian",
    "el": "Greek",
    "ro": "Romanian",
    "hu": "Hungarian",
    "mk": "Macedonian",
}
# Written without spaces between words: a transcript's segments join with nothing between them.
UNSPACED = frozenset({"zh", "yue", "ja", "th"})
_CODES = {name.lower(): code for code, name in QWEN_NAMES.items()}


def detected_code(name: str) -> str | None:
    """The code for what the model reports (`Russian`, or `Chinese,English` for a mixed chunk: the first)."""
    first = name.split(",", 1)[0].strip().lower()
    return _CODES.get(first)
