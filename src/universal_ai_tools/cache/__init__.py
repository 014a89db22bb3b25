"""The response cache: exact and semantic layers in front of every chat route."""
