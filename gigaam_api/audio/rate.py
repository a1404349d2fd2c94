"""The one audio format inside the service, 16 kHz mono: decoding makes it, the VAD and engines take it."""

from __future__ import annotations

from typing import Final

SAMPLE_RATE: Final = 16_000
