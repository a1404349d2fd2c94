"""Response bodies for `json`, `verbose_json` and `text`, shaped like OpenAI's so its client parses them."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gigaam_api.transcript import WORD_SEPARATOR, Segment, Token, Transcript, join_texts

JSONObject = dict[str, object]
# A segment of a transcript that was not diarized: one (unnamed) speaker, as OpenAI labels it.
FALLBACK_SPEAKER = "A"


def billed_seconds(duration: float) -> int:
    """Whole seconds of audio, rounded up, as whisper-1 reports `usage.seconds` (8.47 s -> 9).

    Rounded to milliseconds first so float noise (8.000000001) does not bill an extra second.
    """
    return math.ceil(round(max(duration, 0.0), 3))


def duration_usage(duration: float) -> JSONObject:
    return {"type": "duration", "seconds": billed_seconds(duration)}


def logprob_entries(tokens: Sequence[Token], *, leading_space: bool) -> list[JSONObject]:
    """OpenAI's `logprobs` items for one segment's tokens.

    The tokens' texts concatenate to the text they cover: the first token loses its leading word
    separator, or carries exactly one space when the segment follows another (`leading_space`), the
    way `join_texts` and the stream's deltas join segments. A separator right after another (a model
    may write two space tokens running, its text has one) is dropped too.
    """
    entries: list[JSONObject] = []
    spaced = True  # the text so far ends at a word boundary: a token's own separator is not repeated
    for i, token in enumerate(tokens):
        text = token.text.lstrip(WORD_SEPARATOR) if spaced else token.text
        if i == 0 and leading_space:
            text = " " + text
        spaced = text.endswith(WORD_SEPARATOR) or (spaced and not text)
        entries.append({"token": text, "logprob": token.logprob, "bytes": list(text.encode("utf-8"))})
    return entries


def transcript_logprobs(segments: Sequence[Segment]) -> list[JSONObject]:
    """The `logprobs` of a whole transcript; segments with no text are skipped, as in its text."""
    entries: list[JSONObject] = []
    for segment in segments:
        if segment.text.strip():
            entries.extend(logprob_entries(segment.logprobs, leading_space=bool(entries)))
    return entries


def json_body(t: Transcript, *, include_logprobs: bool) -> JSONObject:
    body: JSONObject = {"text": t.text, "usage": duration_usage(t.duration)}
    if include_logprobs:
        body["logprobs"] = transcript_logprobs(t.segments)
    return body


def verbose_json_body(t: Transcript, *, words: bool, segments: bool) -> JSONObject:
    """`verbose_json`: `segments` for the `segment` granularity, `words` only when `word` is asked."""
    body: JSONObject = {
        "task": t.task,
        "language": t.language,
        "duration": round(t.duration, 3),
        "text": t.text,
    }
    if segments:
        body["segments"] = [_segment(s) for s in t.segments]
    if words:
        body["words"] = [
            {"word": w.word, "start": w.start, "end": w.end} for s in t.segments for w in s.words
        ]
    body["usage"] = duration_usage(t.duration)
    return body


def diarized_json_body(t: Transcript) -> JSONObject:
    """`diarized_json`: OpenAI's shape, one segment per stretch of one speaker (`speakers.turns.attribute`
    split segments where the speaker changes). Segments with no text are left out, as in `text`."""
    return {
        "task": t.task,
        "duration": round(t.duration, 3),
        "text": t.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": segment_id(s.id),
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "speaker": s.speaker or FALLBACK_SPEAKER,
            }
            for s in t.segments
            if s.text.strip()
        ],
        "usage": duration_usage(t.duration),
    }


def text_body(t: Transcript) -> str:
    """The text; diarized, one line per speaker turn (`A: …`), consecutive segments of one speaker joined."""
    if not any(s.speaker for s in t.segments):
        return t.text + "\n"
    lines: list[tuple[str, list[str]]] = []
    for s in t.segments:
        if not s.text.strip():
            continue
        speaker = s.speaker or FALLBACK_SPEAKER
        if lines and lines[-1][0] == speaker:
            lines[-1][1].append(s.text)
        else:
            lines.append((speaker, [s.text]))
    return "".join(f"{speaker}: {join_texts(texts, t.separator)}\n" for speaker, texts in lines)


def segment_id(seg_id: int) -> str:
    """OpenAI types diarized segment ids (in bodies and events) as strings; the digits match
    verbose_json's int ids."""
    return str(seg_id)


def _segment(s: Segment) -> JSONObject:
    return {
        "id": s.id,
        # Whisper's seek is the offset of the decoding window in 10 ms frames; ours is the chunk's start.
        "seek": round(s.start * 100),
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "tokens": list(s.tokens),
        # Greedy CTC decoding: there is no sampling temperature, so report what Whisper's greedy pass does.
        "temperature": 0.0,
        "avg_logprob": s.avg_logprob,
        "compression_ratio": s.compression_ratio,
        "no_speech_prob": s.no_speech_prob,
        **({"speaker": s.speaker} if s.speaker is not None else {}),
    }
