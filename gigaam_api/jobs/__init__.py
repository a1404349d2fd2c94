"""Durable transcription jobs: the store, the worker, webhooks, expiry."""
