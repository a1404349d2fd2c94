"""A request's diarization options from its parsed fields and its reference clips. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gigaam_api.errors import bad_request
from gigaam_api.options.transcription import TranscriptionOptions
from gigaam_api.speakers.options import MAX_KNOWN_SPEAKERS, DiarizationOptions, KnownSpeaker


def diarization_options(
    options: TranscriptionOptions, references: Sequence[Path]
) -> DiarizationOptions | None:
    """None when the request does not diarize; a 400 naming the field for anything inconsistent.

    `references` are the request's known_speaker_references[] clips, in order: one per name."""
    names = options.known_speaker_names
    if not options.diarize:
        if references:
            raise bad_request(
                "known_speaker_references needs diarization: send diarize=true or "
                "response_format=diarized_json.",
                param="known_speaker_references",
            )
        return None
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise bad_request(
            f"{len(names)} known_speaker_names: at most {MAX_KNOWN_SPEAKERS} are allowed.",
            param="known_speaker_names",
        )
    if len(names) != len(references):
        param = "known_speaker_references" if len(names) > len(references) else "known_speaker_names"
        raise bad_request(
            f"{len(names)} known_speaker_names but {len(references)} known_speaker_references: send one "
            "reference clip (a data URL of 2-10 s of that voice alone) per name, in the same order.",
            param=param,
        )
    if len(set(names)) != len(names):
        raise bad_request("known_speaker_names must be distinct.", param="known_speaker_names")
    most = options.speakers or options.max_speakers
    if most is not None and len(names) > most:
        raise bad_request(
            f"{len(names)} known speakers but at most {most} speakers: the count includes them.",
            param="speakers" if options.speakers else "max_speakers",
        )
    return DiarizationOptions(
        speakers=options.speakers,
        min_speakers=options.min_speakers,
        max_speakers=options.max_speakers,
        known_speakers=tuple(KnownSpeaker(n, p) for n, p in zip(names, references, strict=True)),
        per_channel=options.per_channel,
    )
