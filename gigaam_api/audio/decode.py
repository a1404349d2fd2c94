"""Decoding uploads with PyAV into a PcmSpool: 16 kHz mono int16, streamed frame by frame.

Memory stays constant whatever the length: packets are decoded, resampled and appended to the spool in
blocks of about half a second. Duration comes from the decoded samples, never from headers (browser WebM
has none, others lie).

Damaged input: a container FFmpeg cannot open is an error. Once open, packets the decoder rejects are
skipped (FFmpeg resyncs on the next one) and damaged container data ends the stream early; a truncated
upload thus yields the audio before the damage, and only input from which nothing decodes is an error.
In practice (see tests/integration/test_decode.py): mp3, ogg, webm and wav cut short decode up to the cut;
an m4a/mp4 whose index (moov) sits at the end, or any file cut inside its header, cannot be opened.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from gigaam_api.audio.pcm import PcmSpool
from gigaam_api.engines.base import SAMPLE_RATE

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


class AudioDecodeError(Exception):
    """The upload is not usable audio. The message is meant for the client: no paths, no internals."""


class DecodeCancelledError(Exception):
    """Decoding stopped early because `should_stop()` returned True."""


def _never() -> bool:
    return False


def decode_to_pcm(
    source: Path, spool: PcmSpool, *, max_seconds: float, should_stop: Callable[[], bool] = _never
) -> None:
    """Decode the main audio track of `source` (FFmpeg's pick) into `spool`, then finish the spool.

    The spool is finished in every outcome (with the error, if any) so readers never hang. Raises
    AudioDecodeError for unusable input, DecodeCancelledError when `should_stop()` (checked per packet)
    turns True.
    """
    error: BaseException | None = None
    try:
        _decode(source, spool, max_seconds, should_stop)
    except BaseException as exc:
        error = exc
        raise
    finally:
        spool.finish(error)


def decode_all(source: Path, *, max_seconds: float) -> npt.NDArray[np.float32]:
    """All samples of a short file as float32 in [-1, 1), through the same path as `decode_to_pcm`."""
    with tempfile.TemporaryDirectory(prefix="gigaam-decode-") as tmp, PcmSpool(Path(tmp) / "pcm") as spool:
        decode_to_pcm(source, spool, max_seconds=max_seconds)
        return spool.read(0, spool.available)


def _decode(source: Path, spool: PcmSpool, max_seconds: float, should_stop: Callable[[], bool]) -> None:
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
            _decode_container(container, spool, max_seconds, should_stop)
        finally:
            container.close()


def _decode_container(
    container: av.container.InputContainer,
    spool: PcmSpool,
    max_seconds: float,
    should_stop: Callable[[], bool],
) -> None:
    stream = container.streams.best("audio")
    if not isinstance(stream, av.AudioStream):  # None when there is no audio track
        raise AudioDecodeError("The file contains no audio track.")
    max_samples = math.floor(max_seconds * SAMPLE_RATE)
    resampler = _Resampler()
    writer = _BlockWriter(spool)
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
        if writer.samples > max_samples:
            raise _too_long(max_seconds)
    writer.write(resampler.flush())
    writer.flush()
    if damaged:
        logger.info("upload had %d damaged spot(s)", damaged)
    if writer.samples > max_samples:
        raise _too_long(max_seconds)
    if writer.samples == 0:
        raise AudioDecodeError(_UNDECODABLE if damaged else "The audio contains no samples.")


def _too_long(max_seconds: float) -> AudioDecodeError:
    return AudioDecodeError(f"Audio is longer than the limit of {max_seconds:g} seconds.")


class _Resampler:
    """av.AudioResampler to 16 kHz mono s16 that follows input changes mid-stream (chained Ogg, some AAC).

    PyAV's resampler is fixed to its first frame's format, layout and rate, so a change starts a new one.
    """

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None

    def resample(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        flushed: list[av.AudioFrame] = []
        if source != self._input:
            flushed = self.flush()
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            self._input = source
        assert self._resampler is not None
        return flushed + list(self._resampler.resample(frame))

    def flush(self) -> list[av.AudioFrame]:
        return [] if self._resampler is None else list(self._resampler.resample(None))


class _BlockWriter:
    """Gathers resampled frames into blocks of at least half a second: fewer, larger spool writes."""

    def __init__(self, spool: PcmSpool) -> None:
        self._spool = spool
        self._pending: list[npt.NDArray[np.int16]] = []
        self._pending_samples = 0
        self.samples = 0  # written or pending

    def write(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            samples = np.asarray(frame.to_ndarray(), dtype=np.int16).reshape(-1)  # packed mono s16: (1, n)
            self._pending.append(samples)
            self._pending_samples += samples.size
            self.samples += samples.size
        if self._pending_samples >= _BLOCK_SAMPLES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._spool.append(np.concatenate(self._pending))
            self._pending.clear()
            self._pending_samples = 0
