"""Keyword-biased recognition on onnx-asr's GigaAM models: its features and encoder, our beam search.

onnx-asr decodes greedily inside `recognize_batch` with no hook for another decoder, so `BiasedAsr`
stands in for the model behind onnx-asr's own adapter (which still reads, pads and resamples the audio)
and calls the model's parts. This couples to onnx-asr 0.12's private members, all on the model object:
`_preprocessor`, `_encode`, `_decode_tokens`, `_blank_idx`, and for RNN-T `_create_state`,
`_decode` (which caches the prediction network's output in the state list it is given) and
`_max_tokens_per_step`. tests/integration/test_keywords_engine.py runs every GigaAM layout through it,
so an onnx-asr upgrade that moves them fails there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from onnx_asr.asr import TimestampedResult, _AsrWithCtcDecoding, _AsrWithTransducerDecoding

from gigaam_api.engines.biased_search import Emission, ctc_prefix_beam_search, transducer_beam_search
from gigaam_api.engines.context_graph import ContextGraph

# A hypothesis' prediction-network state: the last token and onnx-asr's state list for feeding it.
_State = tuple[int, list[npt.NDArray[np.float32]]]


class _Rnnt:
    """onnx-asr's GigaAM RNN-T decoder and joint as the beam search's `Transducer`."""

    def __init__(self, asr: Any, frame_size: int) -> None:
        self._asr = asr
        self._idle = np.zeros(frame_size, np.float32)

    def start(self) -> _State:
        return (self._asr._blank_idx, self._asr._create_state())

    def joint(self, state: _State, frame: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        # `_decode` runs the decoder on the last token once and keeps its output in the state list.
        logits, _, _ = self._asr._decode([state[0]], state[1], frame)
        return np.asarray(logits, np.float32)

    def predict(self, state: _State, token: int) -> _State:
        last, cached = state
        if len(cached) == 2:  # the decoder has not run on `last` yet: run it (the joint is discarded)
            self._asr._decode([last], cached, self._idle)
        _, hidden, cell = cached
        return (token, [hidden, cell])


class BiasedAsr:
    """onnx-asr's `Asr` protocol over a GigaAM model, decoding with the context graph."""

    def __init__(self, asr: Any, graph: ContextGraph) -> None:
        if not isinstance(asr, _AsrWithCtcDecoding | _AsrWithTransducerDecoding):
            raise TypeError(f"cannot bias {type(asr).__name__}: neither CTC nor RNN-T")
        self._asr = asr
        self._graph = graph

    @staticmethod
    def _get_sample_rate() -> Literal[16_000]:
        return 16_000

    def recognize_batch(
        self, waveforms: npt.NDArray[np.float32], waveforms_len: npt.NDArray[np.int64], /, **kwargs: object
    ) -> Iterator[TimestampedResult]:
        del kwargs  # need_logprobs: the search always reports them
        asr = self._asr
        encoded, lengths = asr._encode(*asr._preprocessor(waveforms, waveforms_len))
        for i in range(encoded.shape[0]):
            emissions = self._search(encoded[i, : int(lengths[i])])
            yield asr._decode_tokens(
                [e.token for e in emissions], [e.frame for e in emissions], [e.logprob for e in emissions]
            )

    def _search(self, frames: npt.NDArray[np.float32]) -> list[Emission]:
        asr = self._asr
        if isinstance(asr, _AsrWithCtcDecoding):
            return ctc_prefix_beam_search(frames, asr._blank_idx, self._graph)
        model = _Rnnt(asr, frames.shape[-1])
        return transducer_beam_search(
            frames, model, asr._blank_idx, self._graph, max_symbols=asr._max_tokens_per_step
        )
