"""The live session's pure parts: turn detection, partial deltas, input decoding, credentials, and the
OpenAI session object (checked against the installed `openai` types)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest
from openai.types.realtime.realtime_transcription_session_audio_input_turn_detection import ServerVad
from scipy import signal

from gigaam_api.api.live_auth import KEY_PROTOCOL, admit, mint_secret, read_secret
from gigaam_api.api.realtime_session import SessionSettings, session_object, update
from gigaam_api.errors import APIError
from gigaam_api.live.codecs import InputDecoder, StreamResampler
from gigaam_api.live.events import TurnDetection
from gigaam_api.live.partials import partial_point, stable_delta
from gigaam_api.live.turns import Started, Stopped, TurnDetector


def turns_of(probabilities: list[float], piece: int) -> list[Started | Stopped]:
    detector = TurnDetector(TurnDetection(threshold=0.5, silence_ms=320, prefix_ms=0))
    found: list[Started | Stopped] = []
    for i in range(0, len(probabilities), piece):
        found.extend(detector.push(probabilities[i : i + piece]))
    return found


def test_turns_are_the_same_however_the_frames_arrive() -> None:
    frames = [0.0] * 5 + [0.9] * 20 + [0.1] * 4 + [0.9] * 3 + [0.0] * 12 + [0.8] * 2 + [0.0] * 20
    expected = [
        Started(5),
        Stopped(32),
    ]  # a 4-frame dip is no pause (10 frames are); a 2-frame blip no speech
    for piece in (1, 3, 7, len(frames)):
        assert turns_of(frames, piece) == expected


def test_speech_continues_down_to_the_lower_threshold() -> None:
    frames = [0.9] * 5 + [0.4] * 30 + [0.0] * 10  # 0.4 >= 0.5 - 0.15: still speech
    assert turns_of(frames, 4) == [Started(0), Stopped(35)]


@pytest.mark.parametrize(
    ("sent", "hypothesis", "delta"),
    [
        ("", "добрый", ""),  # one word might be cut: hold it
        ("", "добрый де", "добрый"),
        ("добрый", "добрый день кол", " день"),
        ("добрый день", "добрый день", ""),
        ("добрый день", "доброе утро коллеги", ""),  # a revision sends nothing
    ],
)
def test_a_delta_only_ever_extends_the_sent_text(sent: str, hypothesis: str, delta: str) -> None:
    assert stable_delta(sent, hypothesis) == delta


def test_resampling_in_pieces_equals_resampling_at_once() -> None:
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, 24_000).astype(np.float32)
    whole = StreamResampler(24_000)(audio)
    pieced = StreamResampler(24_000)
    parts = [pieced(audio[i : i + n]) for i, n in zip(range(0, 24_000, 997), [997] * 25, strict=False)]
    assert len(whole) == 16_000
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)


def test_resampling_keeps_a_tone() -> None:
    t = np.arange(24_000) / 24_000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = StreamResampler(24_000)(tone)
    spectrum = np.abs(np.fft.rfft(out[1000:]))
    assert np.argmax(spectrum) * 16_000 / len(out[1000:]) == pytest.approx(440, abs=2)
    reference = signal.resample_poly(tone, 2, 3)
    assert np.corrcoef(out[100:-100], reference[100 - 8 : -100 - 8])[0, 1] > 0.99  # the filter's delay


def test_g711_decodes_known_codes() -> None:
    mulaw = InputDecoder("pcmu", 8_000)
    alaw = InputDecoder("pcma", 8_000)
    # ITU-T G.711: μ-law 0xFF and A-law 0xD5 are the smallest positive steps; 0x80 / 0xAA the largest.
    assert mulaw._format == "pcmu"
    silence = mulaw(bytes([0xFF]) * 800)
    assert np.abs(silence).max() == 0
    loud = alaw(bytes([0xAA]) * 800)  # 8000 Hz in, 16000 Hz out
    assert len(loud) == 1600
    assert loud[800:].mean() == pytest.approx(32256 / 32768, abs=0.01)


def test_a_pcm_sample_split_between_appends_is_joined() -> None:
    decoder = InputDecoder("pcm16", 16_000)
    data = np.array([1000, -2000, 3000], dtype="<i2").tobytes()
    out = np.concatenate([decoder(data[:3]), decoder(data[3:])])
    np.testing.assert_allclose(out * 32768, [1000, -2000, 3000])


def test_keys_admit_by_header_or_subprotocol_and_never_echo_the_key() -> None:
    keys = ("k1",)
    assert admit("Bearer k1", [], keys) is not None
    assert admit("", ["realtime", f"{KEY_PROTOCOL}k1"], keys) == admit("Bearer k1", ["realtime"], keys)
    assert admit("", ["realtime", f"{KEY_PROTOCOL}k1"], keys).subprotocol == "realtime"  # type: ignore[union-attr]
    assert admit("Bearer nope", [f"{KEY_PROTOCOL}nope"], keys) is None
    assert admit("", [], keys) is None
    assert admit("", [], ()) is not None  # no keys configured: open


def test_client_secrets_carry_their_session_until_they_expire() -> None:
    session = {"type": "transcription", "audio": {"input": {"turn_detection": None}}}
    secret = mint_secret(session, expires_at=1000, keys=("old", "k1"))
    assert read_secret(secret, ("old", "k1"), now=999) == session
    assert read_secret(secret, ("k1",), now=999) is None  # signed with the first key: rotated away
    assert read_secret(secret, ("old",), now=1000) is None  # expired
    assert read_secret(secret[:-2] + "AA", ("old",), now=0) is None  # tampered
    admitted = admit("", ["realtime", f"{KEY_PROTOCOL}{secret}"], ("old",), now=10)
    assert admitted is not None
    assert admitted.session == session


def test_the_session_object_has_exactly_openais_fields() -> None:
    settings = update(
        SessionSettings(),
        {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-transcribe", "language": "ru"},
                    "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400},
                }
            },
        },
    )
    shown = session_object(settings, "gigaam-v3-ctc")
    parsed = RealtimeTranscriptionSessionCreateRequest.model_validate(shown)
    assert parsed.model_dump(mode="json", exclude_unset=True) == shown
    assert parsed.audio and parsed.audio.input
    turn_detection = parsed.audio.input.turn_detection
    assert isinstance(turn_detection, ServerVad)
    assert turn_detection.silence_duration_ms == 400
    assert settings.language == "ru"
    assert settings.live.turns == TurnDetection(threshold=0.6, silence_ms=400, prefix_ms=300)
    manual = update(settings, {"type": "transcription", "audio": {"input": {"turn_detection": None}}})
    assert manual.live.turns is None
    assert manual.language == "ru"  # fields left out stay
    g711 = update(settings, {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    assert (g711.live.input_format, g711.live.sample_rate) == ("pcmu", 8000)


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"type": "realtime"}, "session.type"),
        (
            {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}},
            "session.audio.input.format.rate",
        ),
        (
            {"type": "transcription", "audio": {"input": {"format": {"type": "audio/opus"}}}},
            "session.audio.input.format.type",
        ),
        (
            {"type": "transcription", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}},
            "session.audio.input.turn_detection.type",
        ),
        (
            {"type": "transcription", "audio": {"input": {"turn_detection": {"threshold": 2}}}},
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {"type": "transcription", "audio": {"input": {"transcription": {"language": 5}}}},
            "session.audio.input.transcription.language",
        ),
        ({"type": "transcription", "audio": "pcm"}, "session.audio"),
        (
            {"type": "transcription", "audio": {"input": {"turn_detection": {"idle_timeout_ms": 3000}}}},
            "session.audio.input.turn_detection.idle_timeout_ms",
        ),
        (
            {"type": "transcription", "audio": {"input": {"turn_detection": {"create_response": "yes"}}}},
            "session.audio.input.turn_detection.create_response",
        ),
        (
            {"type": "transcription", "audio": {"input": {"transcription": {"languages": ["ru"]}}}},
            "session.audio.input.transcription.languages",
        ),
        ({"type": "transcription", "input_audio_format": "pcm16"}, "session.input_audio_format"),
        (
            {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "bits": 16}}}},
            "session.audio.input.format.bits",
        ),
        ("transcription", "session"),
    ],
)
def test_bad_session_fields_name_their_param(session: object, param: str) -> None:
    with pytest.raises(APIError) as caught:
        update(SessionSettings(), session)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_partial_points_do_not_depend_on_how_the_audio_arrived() -> None:
    step = 8000

    def points(pieces: list[int]) -> list[int]:
        done, length, seen = 0, 0, []
        for piece in pieces:
            length += piece
            while (point := partial_point(length, done, step)) is not None:
                seen.append(point)
                done = point
        return seen

    assert points([100_000]) == [97_656]  # one catch-up to the last point reached
    fine = points([1_000] * 100)
    assert fine[:4] == [8_000, 16_000, 24_000, 32_000]
    assert fine[-1] == 97_656  # the same last point
    assert all(b - a >= max(step, a // 4) for a, b in itertools.pairwise(fine))
