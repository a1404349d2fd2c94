"""The HTTP edge: routers, auth, error envelopes and form parsing. No inference imports here."""
