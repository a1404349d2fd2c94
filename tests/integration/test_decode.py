"""decode_to_pcm on real files written by PyAV: every common format, bad inputs, limits and memory."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest

from gigaam_api.audio.decode import AudioDecodeError, DecodeCancelledError, decode_all, decode_to_pcm
from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[2]
TONE_HZ = 440.0


def write_tone(
    path: Path,
    *,
    container: str,
    codec: str,
    rate: int,
    layout: str = "mono",
    seconds: float = 3.0,
    sample_format: str | None = None,
    video: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """A 440 Hz sine encoded with PyAV (and a black video track if `video` names an encoder)."""
    with av.open(str(path), "w", format=container, options=options or {}) as out:
        audio = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(audio, av.AudioStream)
        if sample_format:
            audio.format = sample_format
        picture = out.add_stream(video, rate=25) if video else None
        if picture is not None:
            assert isinstance(picture, av.VideoStream)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        tone = 0.5 * np.sin(2 * np.pi * TONE_HZ * np.arange(int(rate * seconds)) / rate)
        channels = np.tile(tone.astype(np.float32), (audio.layout.nb_channels, 1))
        for start in range(0, channels.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(channels[:, start : start + 1024]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
        if isinstance(picture, av.VideoStream):
            for index in range(int(seconds * 25)):
                image = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                image.pts = index
                out.mux(picture.encode(image))
            out.mux(picture.encode(None))
    return path


def write_video_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        picture = out.add_stream("mpeg4", rate=25)
        assert isinstance(picture, av.VideoStream)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        for index in range(25):
            image = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            image.pts = index
            out.mux(picture.encode(image))
        out.mux(picture.encode(None))
    return path


def dominant_hz(samples: npt.NDArray[np.float32]) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum)) * SAMPLE_RATE / samples.size


def decode_error(path: Path, max_seconds: float = 60) -> str:
    with pytest.raises(AudioDecodeError) as caught:
        decode_all(path, max_seconds=max_seconds)
    message = str(caught.value)
    assert str(path.parent) not in message
    assert path.name not in message
    assert "Traceback" not in message
    return message


def truncated(source: Path, n_bytes: int) -> Path:
    path = source.with_name(f"truncated-{source.name}")
    path.write_bytes(source.read_bytes()[:n_bytes])
    return path


FORMATS: dict[str, dict[str, Any]] = {
    "wav-8k": {"container": "wav", "codec": "pcm_s16le", "rate": 8000},
    "mp3-44k-stereo": {"container": "mp3", "codec": "libmp3lame", "rate": 44100, "layout": "stereo"},
    "ogg-opus-48k": {"container": "ogg", "codec": "libopus", "rate": 48000},
    "webm-opus-48k-stereo": {"container": "webm", "codec": "libopus", "rate": 48000, "layout": "stereo"},
    "flac-24bit-96k": {"container": "flac", "codec": "flac", "rate": 96000, "sample_format": "s32"},
    "m4a-aac-44k": {"container": "ipod", "codec": "aac", "rate": 44100},
    "mp4-video-and-aac": {
        "container": "mp4",
        "codec": "aac",
        "rate": 44100,
        "layout": "stereo",
        "video": "mpeg4",
    },
}


@pytest.mark.parametrize("name", FORMATS)
def test_decodes_every_common_format_to_16k_mono(tmp_path: Path, name: str) -> None:
    # A neutral file name: the format must be found from the bytes.
    source = write_tone(tmp_path / "upload", **FORMATS[name])

    with PcmSpool(tmp_path / "pcm") as spool:
        decode_to_pcm(source, spool, max_seconds=60)
        samples = spool.read(0, spool.available)
        assert spool.total == samples.size

    assert samples.dtype == np.float32
    assert samples.size / SAMPLE_RATE == pytest.approx(3.0, abs=0.05)
    assert dominant_hz(samples) == pytest.approx(TONE_HZ, abs=2)
    assert float(np.sqrt(np.mean(samples**2))) == pytest.approx(0.5 / np.sqrt(2), rel=0.2)


def test_flac_fixture_really_is_24_bit(tmp_path: Path) -> None:
    data = write_tone(tmp_path / "a.flac", **FORMATS["flac-24bit-96k"]).read_bytes()
    streaminfo = data[8:42]

    assert ((streaminfo[12] & 1) << 4 | streaminfo[13] >> 4) + 1 == 24


def test_format_comes_from_the_bytes_not_the_name(tmp_path: Path) -> None:
    mp3 = write_tone(tmp_path / "tone.mp3", container="mp3", codec="libmp3lame", rate=22050)
    misnamed = mp3.rename(tmp_path / "tone.wav")

    samples = decode_all(misnamed, max_seconds=60)

    assert dominant_hz(samples) == pytest.approx(TONE_HZ, abs=2)


def test_readers_follow_the_decoder_from_another_thread(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.mp3", container="mp3", codec="libmp3lame", rate=44100, seconds=10)
    with PcmSpool(tmp_path / "pcm") as spool:
        decoder = threading.Thread(target=decode_to_pcm, args=(source, spool), kwargs={"max_seconds": 60})
        decoder.start()
        window, position, pieces = SAMPLE_RATE, 0, []
        while not (spool.finished and position == spool.available):
            available = spool.wait_for(position + window)
            pieces.append(spool.read(position, position + window))
            position = min(position + window, available)
        decoder.join(timeout=30)

    assert spool.error is None
    assert sum(piece.size for piece in pieces) == spool.total
    assert spool.total is not None
    assert spool.total / SAMPLE_RATE == pytest.approx(10.0, abs=0.05)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")

    assert decode_error(empty) == "The audio file is empty."


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
        b"Hello, this is a text file and not audio.\n" * 100,
    ],
    ids=["random-bytes", "text"],
)
def test_not_audio(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.mp3"
    path.write_bytes(content)

    assert "could not be decoded as audio: unsupported or corrupt data" in decode_error(path)


def test_demuxers_that_open_other_files_are_refused(tmp_path: Path) -> None:
    write_tone(tmp_path / "secret.wav", container="wav", codec="pcm_s16le", rate=16000)
    playlist = tmp_path / "upload"
    playlist.write_text("ffconcat version 1.0\nfile secret.wav\n")

    assert "could not be decoded as audio" in decode_error(playlist)


def test_video_without_audio(tmp_path: Path) -> None:
    assert decode_error(write_video_only(tmp_path / "video.mp4")) == "The file contains no audio track."


def test_wav_header_without_samples(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as header_only:
        header_only.setnchannels(1)
        header_only.setsampwidth(2)
        header_only.setframerate(16000)

    assert decode_error(path) == "The audio contains no samples."


class PacketCounter:
    """A `should_stop` that never stops and counts how often the decoder asked (once per packet)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return False


def test_too_long_stops_decoding_early(tmp_path: Path) -> None:
    # MP3 declares no duration (FFmpeg estimates one): the decoded samples must find the excess.
    source = write_tone(tmp_path / "a.mp3", container="mp3", codec="libmp3lame", rate=44100, seconds=30)
    early, whole = PacketCounter(), PacketCounter()

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(AudioDecodeError) as caught:
            decode_to_pcm(source, spool, max_seconds=1, should_stop=early)
        assert str(caught.value) == "Audio is longer than the limit of 1 seconds."
        assert spool.error is caught.value
        assert spool.available < 2 * SAMPLE_RATE
    with PcmSpool(tmp_path / "pcm2") as spool:
        decode_to_pcm(source, spool, max_seconds=60, should_stop=whole)

    assert early.calls < whole.calls / 10  # stopped within the first ~3 of 30 seconds


def test_cancellation_stops_decoding_and_wakes_readers(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.mp3", container="mp3", codec="libmp3lame", rate=44100, seconds=30)
    checks = 0

    def stop_after_ten_packets() -> bool:
        nonlocal checks
        checks += 1
        return checks > 10

    with PcmSpool(tmp_path / "pcm") as spool:
        with pytest.raises(DecodeCancelledError):
            decode_to_pcm(source, spool, max_seconds=60, should_stop=stop_after_ten_packets)
        assert spool.finished
        assert isinstance(spool.error, DecodeCancelledError)
        assert spool.wait_for(10**9) < SAMPLE_RATE
    assert checks == 11


# Truncated uploads. What FFmpeg does, and so what we promise: a file whose header or index is cut off
# cannot be opened (error); a stream cut in the middle of the audio yields the audio before the cut.


def test_m4a_with_index_at_the_end_cut_short_is_an_error(tmp_path: Path) -> None:
    m4a = write_tone(tmp_path / "a.m4a", container="ipod", codec="aac", rate=44100)
    cut = truncated(m4a, int(m4a.stat().st_size * 0.3))

    assert "could not be decoded as audio: unsupported or corrupt data" in decode_error(cut)


def test_wav_cut_inside_the_header_is_an_error(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "a.wav", container="wav", codec="pcm_s16le", rate=8000)

    assert "could not be decoded as audio" in decode_error(truncated(wav, 30))


def test_wav_cut_after_200_bytes_yields_its_few_samples(tmp_path: Path) -> None:
    wav = write_tone(tmp_path / "a.wav", container="wav", codec="pcm_s16le", rate=8000)
    first_sample = wav.read_bytes().index(b"data") + 8

    samples = decode_all(truncated(wav, 200), max_seconds=60)

    samples_at_8k = (200 - first_sample) // 2
    assert samples.size == pytest.approx(2 * samples_at_8k, abs=8)  # resampled 8 -> 16 kHz


@pytest.mark.parametrize(
    ("container", "codec", "rate"),
    [("mp3", "libmp3lame", 44100), ("ogg", "libopus", 48000), ("webm", "libopus", 48000)],
)
def test_stream_cut_in_half_yields_the_first_part(
    tmp_path: Path, container: str, codec: str, rate: int
) -> None:
    source = write_tone(tmp_path / "a", container=container, codec=codec, rate=rate)

    samples = decode_all(truncated(source, source.stat().st_size // 2), max_seconds=60)

    assert 0.8 < samples.size / SAMPLE_RATE < 2.0
    assert dominant_hz(samples) == pytest.approx(TONE_HZ, abs=3)


def test_garbage_in_the_middle_is_skipped(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.mp3", container="mp3", codec="libmp3lame", rate=44100)
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    source.write_bytes(bytes(data))

    samples = decode_all(source, max_seconds=60)

    assert 2.5 < samples.size / SAMPLE_RATE <= 3.05
    assert dominant_hz(samples) == pytest.approx(TONE_HZ, abs=3)


# VmHWM, not ru_maxrss: the latter carries the parent's peak over into the child across fork and exec.
PEAK_RSS_SCRIPT = """
import json, re, sys
from pathlib import Path
from gigaam_api.audio.decode import decode_to_pcm
from gigaam_api.audio.pcm import PcmSpool
with PcmSpool(Path(sys.argv[2])) as spool:
    decode_to_pcm(Path(sys.argv[1]), spool, max_seconds=1e6)
    peak_rss_kb = int(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
    print(json.dumps({"samples": spool.total, "peak_rss_kb": peak_rss_kb}))
"""


def decode_in_fresh_process(source: Path, pcm: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SCRIPT, str(source), str(pcm)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


def test_peak_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    # One minute of mp3 repeated: MP3 frames are independent, and without the Xing header (which records
    # the frame count) FFmpeg plays every copy.
    minute = write_tone(
        tmp_path / "minute.mp3",
        container="mp3",
        codec="libmp3lame",
        rate=44100,
        layout="stereo",
        seconds=60,
        options={"write_xing": "0", "id3v2_version": "0"},
    ).read_bytes()
    short, long = tmp_path / "2min.mp3", tmp_path / "20min.mp3"
    short.write_bytes(minute * 2)
    long.write_bytes(minute * 20)

    small = decode_in_fresh_process(short, tmp_path / "short.pcm")
    large = decode_in_fresh_process(long, tmp_path / "long.pcm")

    assert large["samples"] / SAMPLE_RATE == pytest.approx(1200, abs=2)
    assert (tmp_path / "long.pcm").stat().st_size == 2 * large["samples"]
    # 20 minutes of float32 at 16 kHz would be 77 MB; the spool keeps it on disk.
    assert large["peak_rss_kb"] - small["peak_rss_kb"] < 20 * 1024


@pytest.mark.parametrize("name", FORMATS)
def test_the_header_length_is_known_before_the_first_sample(tmp_path: Path, name: str) -> None:
    source = write_tone(tmp_path / "upload", seconds=20, **FORMATS[name])
    seen: list[tuple[int, float | None]] = []

    with PcmSpool(tmp_path / "pcm") as spool:

        def look() -> bool:  # called before each packet is decoded
            seen.append((spool.available, spool.declared_seconds))
            return False

        decode_to_pcm(source, spool, max_seconds=60, should_stop=look)

    available, declared = seen[0]
    assert available == 0
    assert declared == pytest.approx(20.0, abs=0.1)


def test_a_header_length_past_the_limit_is_not_declared(tmp_path: Path) -> None:
    source = write_tone(tmp_path / "a.wav", container="wav", codec="pcm_s16le", rate=16000, seconds=3)
    with PcmSpool(tmp_path / "pcm") as spool:
        decode_to_pcm(source, spool, max_seconds=60)
        assert spool.declared_seconds == pytest.approx(3.0)
    with PcmSpool(tmp_path / "pcm2") as spool, pytest.raises(AudioDecodeError):
        decode_to_pcm(source, spool, max_seconds=1)
    assert spool.declared_seconds is None
