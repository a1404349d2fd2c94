"""Who spoke when: speaker-embedding models (a protocol, a catalog, a registry, an ONNX Runtime engine)
and the diarizer that turns the pipeline's speech chunks into speaker turns with flat memory."""
