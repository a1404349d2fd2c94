"""Live transcription: audio arrives as it is spoken, text leaves per utterance (docs/realtime.md)."""
