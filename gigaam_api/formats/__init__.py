"""Output formats: OpenAI response bodies, subtitle cues (SRT/WebVTT) and SSE events. Pure, no I/O."""
