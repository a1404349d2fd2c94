"""GigaAM behind the engine protocol: onnx-asr's recogniser in, words and token detail out.

Everything peculiar to GigaAM stays here: the vocabulary (onnx-asr reports token texts, not ids),
the `▁` word-start mark, the 40 ms output frame, the 30 s limit and the smallest analysis window.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx_asr
from onnx_asr.adapters import TimestampedResultsAsrAdapter

from gigaam_api.audio.rate import SAMPLE_RATE
from gigaam_api.config import Settings
from gigaam_api.cpus import StreamPlan, plan_streams
from gigaam_api.engines.base import Capabilities, ChunkPolicy, ChunkResult, EngineOptions
from gigaam_api.engines.context_graph import ContextGraph
from gigaam_api.engines.gigaam.biased import BiasedAsr
from gigaam_api.engines.gigaam.catalog import MODELS
from gigaam_api.engines.gigaam.loader import choose_runtime, load_recognizers, settle_int8_static
from gigaam_api.engines.gigaam.runtime import RuntimeChoice
from gigaam_api.engines.keywords import CYRILLIC, check_boost
from gigaam_api.transcript import Token, Word

log = logging.getLogger(__name__)

WORD_PIECE = "\u2581"  # the vocabulary's word-start mark; onnx-asr turns it into a space
FRAME_SECONDS = 0.04  # 10 ms feature hop x subsampling 4
MAX_CHUNK_SECONDS = 30.0
# The log-mel window (20 ms): shorter audio holds no recognisable sound, and the feature
# extractor cannot frame it, so it is transcribed as silence.
MIN_SAMPLES = 320


def read_vocab(path: Path) -> dict[str, int]:
    """Token text (as onnx-asr reports it, word mark as a space) → token id."""
    vocab: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            token, token_id = line.rsplit(" ", 1)
            vocab[token.replace(WORD_PIECE, " ")] = int(token_id)
    return vocab


def words_from_tokens(tokens: Sequence[Token], end: float) -> tuple[Word, ...]:
    """Group tokens into words at word-start tokens (a leading space).

    A word starts at its first token and ends where the next word starts or, for the last word,
    one frame after its last token (capped at `end`, the chunk's length).
    """
    groups: list[list[Token]] = []
    for tok in tokens:
        if tok.text.startswith(" ") or not groups:
            groups.append([])
        if tok.text.strip():
            groups[-1].append(tok)
    groups = [g for g in groups if g]
    words: list[Word] = []
    for i, group in enumerate(groups):
        start = group[0].start
        stop = groups[i + 1][0].start if i + 1 < len(groups) else min(end, group[-1].start + FRAME_SECONDS)
        text = "".join(t.text for t in group).strip()
        words.append(Word(text, round(start, 3), round(max(stop, start), 3)))
    return tuple(words)


@lru_cache(maxsize=16)  # a glossary or a client's list repeats across requests; building is cheap anyway
def context_graph(phrases: tuple[str, ...], boost: float, token_texts: tuple[str, ...]) -> ContextGraph:
    return ContextGraph(phrases, boost, token_texts)


class GigaamEngine:
    """Any GigaAM variant on any runtime: the runtime only changes the recognisers it is given.

    One recogniser per inference stream (`load_recognizers`); each call takes a free one, so as many
    calls as streams run at once and any more wait for one."""

    def __init__(
        self,
        recognizers: Sequence[TimestampedResultsAsrAdapter],
        vocab: dict[str, int],
        capabilities: Capabilities,
    ):
        self._recognizers = tuple(recognizers)
        self._free: queue.SimpleQueue[TimestampedResultsAsrAdapter] = queue.SimpleQueue()
        for recognizer in self._recognizers:
            self._free.put(recognizer)
        self._vocab = vocab
        self._capabilities = capabilities
        by_id = {token_id: text for text, token_id in vocab.items()}
        self._token_texts = tuple(by_id.get(i, "") for i in range(max(by_id, default=-1) + 1))

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def transcribe_batch(
        self, chunks: Sequence[npt.NDArray[np.float32]], options: EngineOptions
    ) -> list[ChunkResult]:
        # Russian only, and GigaAM takes no prompt; keywords switch greedy decoding to a biased search.
        audible = [i for i, chunk in enumerate(chunks) if len(chunk) >= MIN_SAMPLES]
        results = [ChunkResult("", words=(), tokens=()) for _ in chunks]
        if audible:
            waveforms: list[str | Path | npt.NDArray[np.float32]] = [chunks[i] for i in audible]
            recognizer = self._free.get()
            try:
                recognized = self._with_options(recognizer, options).recognize(
                    waveforms, sample_rate=SAMPLE_RATE
                )
            finally:
                self._free.put(recognizer)
            for i, result in zip(audible, recognized, strict=True):
                results[i] = self._convert(result, len(chunks[i]) / SAMPLE_RATE)
        return results

    def _with_options(
        self, recognizer: TimestampedResultsAsrAdapter, options: EngineOptions
    ) -> TimestampedResultsAsrAdapter:
        if not options.keywords:
            return recognizer  # today's path: onnx-asr's greedy decoding, untouched
        graph = context_graph(options.keywords, check_boost(options.keyword_boost), self._token_texts)
        return TimestampedResultsAsrAdapter(BiasedAsr(recognizer.asr, graph), recognizer.resampler)

    def _convert(self, result: onnx_asr.asr.TimestampedResult, length: float) -> ChunkResult:
        texts = result.tokens or []
        times = result.timestamps or []
        logprobs = result.logprobs or [0.0] * len(texts)
        tokens = tuple(
            Token(self._vocab.get(text, -1), text, float(start), float(lp))
            for text, start, lp in zip(texts, times, logprobs, strict=False)
        )
        return ChunkResult(result.text, words=words_from_tokens(tokens, length), tokens=tokens, language="ru")


def stream_plan(settings: Settings, choice: RuntimeChoice) -> StreamPlan:
    """GigaAM runs calls at once on both runtimes; the CPU's threads split into `cpus.plan_streams`."""
    return plan_streams(
        settings.NUM_THREADS, settings.INFERENCE_STREAMS, parallel_calls=True, cpu=choice.device == "cpu"
    )


def capabilities(settings: Settings, choice: RuntimeChoice | None = None) -> Capabilities:
    """What the engine for `settings.MODEL` declares, known before (and without) loading it."""
    choice = choice or choose_runtime(settings)
    return Capabilities(
        model_id=settings.MODEL,
        # Trained on short utterances: long audio is cut by the VAD (its long-form rule, vad/chunking.py).
        chunks=ChunkPolicy(MAX_CHUNK_SECONDS, preferred_seconds=22.0, whole=False),
        languages=frozenset({"ru"}),
        word_timestamps=True,
        token_logprobs=True,
        device=choice.device,
        runtime=choice.runtime,
        precision=choice.precision,
        keywords=True,
        keyword_letters=CYRILLIC,
        detail=choice.reason,
        parallel_calls=True,  # ONNX Runtime's sessions are; OpenVINO gives each call its own infer request
        streams=stream_plan(settings, choice).streams,
    )


def create(settings: Settings, model_dir: Path) -> GigaamEngine:
    """The registry's factory: `model_dir` holds the hub repository's files for `settings.MODEL`."""
    model = settings.MODEL
    choice = settle_int8_static(model_dir, model, choose_runtime(settings), settings.NUM_THREADS)
    plan = stream_plan(settings, choice)
    log.info(
        "loading %s on %s, %d stream(s) of %d threads", model, choice.describe(), plan.streams, plan.threads
    )
    recognizers = load_recognizers(model_dir, model, choice, plan)
    return GigaamEngine(
        recognizers, read_vocab(model_dir / MODELS[model].vocab), capabilities(settings, choice)
    )
