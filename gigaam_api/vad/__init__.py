"""Voice activity detection (Silero) and the chunking of long audio into model-sized pieces."""
