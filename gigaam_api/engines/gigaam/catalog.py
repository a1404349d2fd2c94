"""The GigaAM models this service can serve: names, aliases, hub repositories and file layouts.

Pure data and functions (no onnx-asr import) so configuration and the HTTP layer can use them.
The file patterns mirror what onnx-asr's loader resolves in a model directory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    repo_id: str
    onnx_files: tuple[str, ...]  # `{q}` stands for the quantization suffix (".int8" or "")
    vocab: str

    def required_files(self, quantization: str | None) -> list[str]:
        suffix = f".{quantization}" if quantization else ""
        return ["config.json", *(f.format(q=suffix) for f in self.onnx_files), self.vocab]


def _rnnt(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_rnnt_{part}{{q}}.onnx" for part in ("encoder", "decoder", "joint"))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("gigaam-v3-ctc", "istupakov/gigaam-v3-onnx", ("v3_ctc{q}.onnx",), "v3_vocab.txt"),
        ModelSpec("gigaam-v3-rnnt", "istupakov/gigaam-v3-onnx", _rnnt("v3"), "v3_vocab.txt"),
        ModelSpec(
            "gigaam-v3-e2e-ctc", "istupakov/gigaam-v3-onnx", ("v3_e2e_ctc{q}.onnx",), "v3_e2e_ctc_vocab.txt"
        ),
        ModelSpec("gigaam-v3-e2e-rnnt", "istupakov/gigaam-v3-onnx", _rnnt("v3_e2e"), "v3_e2e_rnnt_vocab.txt"),
        ModelSpec("gigaam-v2-ctc", "istupakov/gigaam-v2-onnx", ("v2_ctc{q}.onnx",), "v2_vocab.txt"),
        ModelSpec("gigaam-v2-rnnt", "istupakov/gigaam-v2-onnx", _rnnt("v2"), "v2_vocab.txt"),
    )
}


def canonical_model_name(value: str) -> str:
    """Accept `gigaam-v3-ctc`, `v3_ctc`, `V3-CTC`, `gigaam_v3_e2e_rnnt` ...; raise ValueError otherwise."""
    key = value.strip().lower().replace("_", "-")
    if not key.startswith("gigaam-"):
        key = f"gigaam-{key}"
    if key not in MODELS:
        known = ", ".join(MODELS)
        raise ValueError(
            f"unknown model {value!r}; choose one of: {known} (short forms like v3_ctc work too)"
        )
    return key
