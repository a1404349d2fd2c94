"""Live transcription sessions: audio arrives as it is spoken, text leaves per utterance (docs/realtime.md)."""
