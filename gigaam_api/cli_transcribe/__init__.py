"""`gigaam-api transcribe`: local files through the server's pipeline, without HTTP."""
