"""Long-form transcription: speech probabilities (vad), chunk boundaries (chunking), and the pipeline."""
