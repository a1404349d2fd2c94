"""From an upload to segments: decoding, speech chunks, batching and the shared inference scheduler."""
