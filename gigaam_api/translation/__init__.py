"""Translation of transcript segments through an external OpenAI-compatible chat-completions endpoint."""
