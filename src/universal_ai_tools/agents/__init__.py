"""Agents: a named system prompt, model and parameters, usable wherever a model is."""
