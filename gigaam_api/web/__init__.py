"""The web page: a static front end shipped in the package, and the one endpoint it needs."""
