"""Deduplicated retries: identical requests share one run, and finished transcripts are cached on disk.

The shared unit is the transcript (segments, duration, language); every response format and the
stream are rendered from it, so a retry in another format still shares the work.
"""
