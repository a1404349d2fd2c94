"""CAM++'s segment pooling on OpenVINO: ceil-mode pools over 100-frame segments, rewritten so the CPU
plugin runs them on inputs shorter than a segment, with PyTorch's averages (a partial segment's mean)."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from openvino import opset14

from gigaam_api.speakers.openvino import _pools_padded

SEGMENT = 100


def _segment_pool(*, rounding: str = "ceil_torch", strides: int = SEGMENT) -> ov.Model:
    frames = opset14.parameter([1, 2, -1], ov.Type.f32, name="x")
    pool = opset14.avg_pool(frames, [strides], [0], [0], [SEGMENT], False, rounding)
    return ov.Model([pool], [frames], "segments")


def _expected(x: np.ndarray) -> np.ndarray:
    """PyTorch's `avg_pool1d(x, 100, 100, ceil_mode=True)`: each segment's mean, the last one partial."""
    starts = range(0, x.shape[-1], SEGMENT)
    return np.stack([x[..., s : s + SEGMENT].mean(axis=-1) for s in starts], axis=-1)


@pytest.mark.parametrize("frames", [74, 100, 250])
def test_rewritten_pools_give_each_segments_mean_at_any_length(frames: int) -> None:
    x = np.random.default_rng(frames).standard_normal((1, 2, frames)).astype(np.float32)
    compiled = ov.Core().compile_model(_pools_padded(_segment_pool()), "CPU")
    assert np.allclose(compiled(x)[0], _expected(x), atol=1e-5)


def test_unrewritten_the_cpu_plugin_refuses_a_window_shorter_than_a_segment() -> None:
    compiled = ov.Core().compile_model(_segment_pool(), "CPU")
    with pytest.raises(RuntimeError, match="Kernel"):
        compiled(np.zeros((1, 2, 74), np.float32))


def test_other_pools_are_left_as_they_are() -> None:
    for model in (_segment_pool(rounding="floor"), _segment_pool(strides=50)):
        rewritten = _pools_padded(model)
        (pool,) = [op for op in rewritten.get_ops() if op.get_type_name() == "AvgPool"]
        assert list(pool.get_attributes()["pads_end"]) == [0]
