"""Audio input: upload spool files, PyAV decoding to 16 kHz mono int16, and the file-backed PCM spool."""
