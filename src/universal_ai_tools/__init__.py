"""Universal AI Tools: a self-hosted, local-first AI platform server."""

__version__ = "0.1.0"
