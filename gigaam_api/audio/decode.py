"""Decoding uploads with PyAV into a PcmSpool: 16 kHz mono int16, streamed frame by frame.

Memory stays constant whatever the length: packets are decoded, resampled and appended to the spool in
blocks of about half a second. Duration comes from the decoded samples (browser WebM declares none, others
lie); a declared duration is used only to refuse early: a container that stores one (not an estimate from
the bitrate) and declares more than `max_seconds` is refused before anything is decoded.

Damaged input: a container FFmpeg cannot open is an error. Once open, packets the decoder rejects are
skipped (FFmpeg resyncs on the next one) and damaged container data ends the stream early; a truncated
upload thus yields the audio before the damage, and only input from which nothing decodes is an error.
In practice (see tests/integration/test_decode.py): mp3, ogg, webm and wav cut short decode up to the cut;
an m4a/mp4 whose index (moov) sits at the end, or any file cut inside its header, cannot be opened.
A header the resampler cannot follow (a sample rate of 2^31 - 1 Hz, 255 channels) is unusable input too.

Budget: a tiny upload can claim hours of audio (a FLAC of silence, a WAV header saying 1 Hz), so the PCM
a request may write is bounded by a multiple of its upload size with an absolute floor (`PcmBudget`), on
top of `max_seconds`; every block is also charged to the server-wide spool budget before it is written.
Silence is refused early too (`SilenceLimit`): audio whose first minutes hold nothing above -60 dBFS
stops there, instead of spooling hours of it before the pipeline finds no speech.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.audio.rate import SAMPLE_RATE

logger = logging.getLogger(__name__)

_BLOCK_SAMPLES = SAMPLE_RATE // 2

# Demuxers of audio files and of videos that carry audio. A whitelist because some FFmpeg demuxers
# (concat, hls, image sequences, ...) open further files or URLs named inside the upload.
_ALLOWED_FORMATS = ",".join(
    (
        "wav", "w64", "aiff", "caf", "au", "voc", "mp3", "aac", "ac3", "eac3", "dts", "flac", "ogg", "opus",
        "matroska", "webm", "mov", "mp4", "3gp", "asf", "avi", "flv", "mpeg", "mpegts", "amr", "wv", "ape",
        "tta", "rm",
    )
)  # fmt: skip

_UNDECODABLE = "The file could not be decoded as audio: unsupported or corrupt data."
_UNCONVERTIBLE = (
    "The audio could not be converted to 16 kHz mono: its header declares an unusable sample rate "
    "or channel layout."
)
_BYTES_PER_SAMPLE = 2
# Containers whose declared duration is stored (a sample count, timestamps, a header field the muxer
# writes at the end), never estimated from the bitrate as FFmpeg does for MP3 without a Xing header or ADTS
# AAC; FFmpeg also clamps a WAV data size to the file's. Encoder padding makes a declaration a little long.
_DECLARING_FORMATS = frozenset(
    ("wav", "w64", "aiff", "caf", "flac", "ogg", "matroska", "webm", "mov", "mp4", "m4a", "3gp", "wv", "tta")
)
_DECLARED_TOLERANCE_SECONDS = 1.0
# Sample rates real recordings use lie well inside this; a header outside it is forged or broken, and a
# very low rate would make one packet expand into minutes of 16 kHz audio (1 Hz: x16000) in memory.
_MIN_INPUT_RATE, _MAX_INPUT_RATE = 1_000, 768_000


class AudioDecodeError(Exception):
    """The upload is not usable audio. The message is meant for the client: no paths, no internals."""


class AudioTooLongError(AudioDecodeError):
    """The audio is longer than the caller's `max_seconds`."""


class DecodeCancelledError(Exception):
    """Decoding stopped early because `should_stop()` returned True."""


class DecodeBudgetError(AudioDecodeError):
    """The upload decodes to more PCM than its `PcmBudget` allows."""


class SilentAudioError(AudioDecodeError):
    """The audio's first `SilenceLimit.seconds` are silence."""


@dataclass(frozen=True)
class SilenceLimit:
    """Refuse audio whose first `seconds` hold no sample above `peak` (int16; 32 is -60 dBFS).

    Only leading silence counts: one sample above the floor anywhere in the first `seconds` ends the
    check for good, so speech with pauses of any length is never refused. A microphone's noise floor and
    any speech lie far above -60 dBFS; digital silence, dither and Opus comfort noise lie below it.
    """

    seconds: float
    peak: int = 32


@dataclass(frozen=True)
class PcmBudget:
    """How much decoded PCM an upload may produce: `ratio` times its size, but never less than `floor_bytes`.

    Legitimate speech codecs expand by at most ~85x into 16 kHz int16 (6 kbps Opus of digital silence;
    4.75 kbps AMR-NB ~49x); silence in FLAC or a 1 Hz WAV header expand by thousands.
    """

    ratio: float
    floor_bytes: int

    def max_bytes(self, upload_bytes: int) -> int:
        return max(self.floor_bytes, math.floor(self.ratio * upload_bytes))


def _never() -> bool:
    return False


def _free(_: int) -> None:
    return None


def decode_to_pcm(
    source: Path,
    spool: PcmSpool,
    *,
    max_seconds: float,
    budget: PcmBudget | None = None,
    charge: Callable[[int], None] | None = None,
    expect: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = _never,
    silence: SilenceLimit | None = None,
    channel: int | None = None,
) -> None:
    """Decode the main audio track of `source` (FFmpeg's pick) into `spool`, then finish the spool:
    mixed down to mono, or only `channel` (0: left, 1: right) of a stereo track.

    `charge(n)` is called before each write of n bytes and may raise (the spool-wide budget's
    `SpoolFullError`) to stop decoding. `expect(n)` hears how many PCM bytes are still to come: once the
    container is open, if it declares a duration (within the limits), and 0 when decoding has ended,
    before the spool is finished. The spool is finished in every outcome (with the error, if any) so
    readers never hang. Raises AudioDecodeError for unusable input (DecodeBudgetError past `budget`,
    SilentAudioError past `silence`), DecodeCancelledError when `should_stop()` (checked per packet)
    turns True.
    """
    error: BaseException | None = None
    expect = expect or _free
    try:
        limits = _Limits.of(source, max_seconds, budget, silence)
        _decode(
            source,
            spool,
            limits,
            charge=charge or _free,
            expect=expect,
            should_stop=should_stop,
            channel=channel,
        )
    except BaseException as exc:
        error = exc
        raise
    finally:
        expect(0)
        spool.finish(error)


def decode_all(source: Path, *, max_seconds: float) -> npt.NDArray[np.float32]:
    """All samples of a short file as float32 in [-1, 1), through the same path as `decode_to_pcm`."""
    with tempfile.TemporaryDirectory(prefix="gigaam-decode-") as tmp, PcmSpool(Path(tmp) / "pcm") as spool:
        decode_to_pcm(source, spool, max_seconds=max_seconds)
        return spool.read(0, spool.available)


@dataclass(frozen=True)
class _Limits:
    max_samples: int
    max_seconds: float
    budget_bytes: int | None  # None: no PcmBudget was given
    silence: SilenceLimit | None

    @classmethod
    def of(
        cls, source: Path, max_seconds: float, budget: PcmBudget | None, silence: SilenceLimit | None
    ) -> _Limits:
        budget_bytes = None if budget is None else budget.max_bytes(source.stat().st_size)
        max_samples = math.floor(max_seconds * SAMPLE_RATE)
        if budget_bytes is not None:
            max_samples = min(max_samples, budget_bytes // _BYTES_PER_SAMPLE)
        return cls(max_samples, max_seconds, budget_bytes, silence)

    def check_declared(self, container: av.container.InputContainer, declared: float | None) -> None:
        """Refuse at once a container that stores a duration (`_DECLARING_FORMATS`) of more than
        `max_seconds`. A live recording (browser WebM) declares none: the decoded samples decide."""
        if declared is None or _DECLARING_FORMATS.isdisjoint(container.format.name.split(",")):
            return
        if declared > self.max_seconds + _DECLARED_TOLERANCE_SECONDS:
            logger.info("the container declares %.0f s of audio", declared)
            raise AudioTooLongError(
                f"Audio is longer than the limit of {self.max_seconds:g} seconds "
                f"(the file declares {declared:.0f} s)."
            )

    def check(self, samples: int) -> None:
        """Raise the error that names the limit `samples` passed, if it passed one."""
        if samples <= self.max_samples:
            return
        if self.budget_bytes is not None and samples * _BYTES_PER_SAMPLE > self.budget_bytes:
            mb = self.budget_bytes / 2**20
            raise DecodeBudgetError(
                f"The upload decodes to more than {mb:.0f} MB of 16 kHz audio, far more than its size "
                "suggests (long silence or a corrupt header); it was not transcribed."
            )
        raise AudioTooLongError(f"Audio is longer than the limit of {self.max_seconds:g} seconds.")


def _decode(
    source: Path,
    spool: PcmSpool,
    limits: _Limits,
    *,
    charge: Callable[[int], None],
    expect: Callable[[int], None],
    should_stop: Callable[[], bool],
    channel: int | None,
) -> None:
    if source.stat().st_size == 0:
        raise AudioDecodeError("The audio file is empty.")
    # Opened by descriptor so PyAV hands FFmpeg no file name: its extension would steer format probing.
    with open(os.open(source, os.O_RDONLY), "rb") as file:
        try:
            container = av.open(file, "r", options={"format_whitelist": _ALLOWED_FORMATS})
        except av.FFmpegError as exc:
            logger.info("cannot open upload as media: %s", exc.strerror)
            raise AudioDecodeError(_UNDECODABLE) from None
        try:
            _decode_container(
                container,
                spool,
                limits,
                charge=charge,
                expect=expect,
                should_stop=should_stop,
                channel=channel,
            )
        finally:
            container.close()


def _decode_container(
    container: av.container.InputContainer,
    spool: PcmSpool,
    limits: _Limits,
    *,
    charge: Callable[[int], None],
    expect: Callable[[int], None],
    should_stop: Callable[[], bool],
    channel: int | None,
) -> None:
    stream = container.streams.best("audio")
    if not isinstance(stream, av.AudioStream):  # None when there is no audio track
        raise AudioDecodeError("The file contains no audio track.")
    declared = declared_seconds(container, stream)
    limits.check_declared(container, declared)
    if declared is not None:
        expect(min(math.ceil(declared * SAMPLE_RATE), limits.max_samples) * _BYTES_PER_SAMPLE)
        if declared <= limits.max_seconds:
            spool.declare(declared)  # an estimate for clients, long before decoding ends
    writer = _BlockWriter(spool, limits, charge, channel)
    resampler = _Resampler("mono" if channel is None else "stereo")
    damaged = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets, None)
        except av.FFmpegError as exc:
            logger.info("damaged container data, decoding stops early: %s", exc.strerror)
            damaged += 1
            break
        if packet is None:
            break
        if should_stop():
            raise DecodeCancelledError()
        try:
            frames = stream.decode(packet)
        except av.FFmpegError:
            damaged += 1  # the decoder resyncs on the next packet
            continue
        for frame in frames:
            writer.write(resampler.resample(frame))
    writer.write(resampler.flush())
    writer.flush()
    if damaged:
        logger.info("upload had %d damaged spot(s)", damaged)
    if writer.samples == 0:
        raise AudioDecodeError(_UNDECODABLE if damaged else "The audio contains no samples.")


def audio_channels(source: Path) -> int | None:
    """How many channels the main audio track has; None if the file does not open as audio."""
    try:
        with (
            open(os.open(source, os.O_RDONLY), "rb") as file,
            av.open(file, "r", options={"format_whitelist": _ALLOWED_FORMATS}) as container,
        ):
            stream = container.streams.best("audio")
            return stream.codec_context.channels if isinstance(stream, av.AudioStream) else None
    except (av.FFmpegError, OSError):
        return None


def stereo_blocks(source: Path, *, max_seconds: float) -> Iterator[npt.NDArray[np.int16]]:
    """The first `max_seconds` of a file's main audio track as 16 kHz stereo int16 blocks of shape (n, 2),
    one decoded frame at a time (memory stays that of a frame). Raises AudioDecodeError for unusable input.
    """
    with open(os.open(source, os.O_RDONLY), "rb") as file:
        try:
            container = av.open(file, "r", options={"format_whitelist": _ALLOWED_FORMATS})
        except av.FFmpegError:
            raise AudioDecodeError(_UNDECODABLE) from None
        with container:
            stream = container.streams.best("audio")
            if not isinstance(stream, av.AudioStream):
                raise AudioDecodeError("The file contains no audio track.")
            resampler = _Resampler("stereo")
            left = math.floor(max_seconds * SAMPLE_RATE)
            try:
                for packet in container.demux(stream):
                    for decoded in stream.decode(packet):
                        for frame in resampler.resample(decoded):
                            block = np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1, 2)[:left]
                            left -= len(block)
                            yield block
                            if left <= 0:
                                return
            except av.FFmpegError:
                return  # damaged data: what decoded before it is what there is


def declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """The length the header declares (the stream's, else the container's, which FFmpeg may estimate
    from the bit rate); None when it declares none (a browser's WebM recording) or nonsense."""
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class _Resampler:
    """av.AudioResampler to 16 kHz mono s16 that follows input changes mid-stream (chained Ogg, some AAC).

    PyAV's resampler is fixed to its first frame's format, layout and rate, so a change starts a new one.
    """

    def __init__(self, layout: str = "mono") -> None:
        self._layout = layout
        self._resampler: av.AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None

    def resample(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        flushed: list[av.AudioFrame] = []
        if source != self._input:
            if not _MIN_INPUT_RATE <= frame.sample_rate <= _MAX_INPUT_RATE:
                logger.info("unusable sample rate in the audio's header: %d Hz", frame.sample_rate)
                raise AudioDecodeError(_UNCONVERTIBLE)
            flushed = self.flush()
            self._resampler = av.AudioResampler(format="s16", layout=self._layout, rate=SAMPLE_RATE)
            self._input = source
        assert self._resampler is not None
        return flushed + self._run(self._resampler, frame)

    def flush(self) -> list[av.AudioFrame]:
        return [] if self._resampler is None else self._run(self._resampler, None)

    @staticmethod
    def _run(resampler: av.AudioResampler, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        # FFmpeg's swresample refuses what a forged header declares (ENOMEM for a rate of 2^31 - 1 Hz,
        # EINVAL for 255 channels): the input is unusable, not the server broken.
        try:
            return list(resampler.resample(frame))
        except (av.FFmpegError, ValueError) as exc:
            logger.info("resampler refused the audio's parameters: %s", exc)
            raise AudioDecodeError(_UNCONVERTIBLE) from None


class _BlockWriter:
    """Gathers resampled frames into blocks of at least half a second: fewer, larger spool writes.

    Limits are checked before anything is written, so a spool never holds a sample past them.
    """

    def __init__(
        self, spool: PcmSpool, limits: _Limits, charge: Callable[[int], None], channel: int | None = None
    ) -> None:
        self._channel = channel  # of packed stereo frames; None: the frames are mono
        self._spool = spool
        self._limits = limits
        self._charge = charge
        self._pending: list[npt.NDArray[np.int16]] = []
        self._pending_samples = 0
        self.samples = 0  # written or pending
        self._silent = limits.silence is not None  # no sample above the floor yet

    def write(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            samples = np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(
                -1
            )  # packed s16: (1, n * channels)
            if self._channel is not None:
                samples = samples[self._channel :: 2]
            self._pending.append(samples)
            self._pending_samples += samples.size
            self.samples += samples.size
            if self._silent:
                self._check_silence(samples)
        self._limits.check(self.samples)
        if self._pending_samples >= _BLOCK_SAMPLES:
            self.flush()

    def _check_silence(self, samples: npt.NDArray[np.int16]) -> None:
        silence = self._limits.silence
        assert silence is not None
        # int32: abs(-32768) does not fit int16
        if samples.size and int(np.abs(samples.astype(np.int32)).max()) > silence.peak:
            self._silent = False
        elif self.samples > silence.seconds * SAMPLE_RATE:
            raise SilentAudioError(
                f"The audio is silent: its first {silence.seconds:g} seconds hold no sound "
                "(MAX_LEADING_SILENCE_SECONDS); it was not transcribed."
            )

    def flush(self) -> None:
        if self._pending:
            block = np.concatenate(self._pending)
            self._charge(block.nbytes)
            self._spool.append(block)
            self._pending.clear()
            self._pending_samples = 0
