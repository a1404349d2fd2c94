"""A transcription request's options: one typed object, parsed once where the request comes in."""
