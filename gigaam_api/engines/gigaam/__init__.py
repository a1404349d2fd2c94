"""GigaAM (v2, v3; CTC, RNN-T, E2E) on ONNX Runtime or OpenVINO."""
