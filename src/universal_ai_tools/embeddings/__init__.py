"""Embedding models run in this process (no external service)."""

from __future__ import annotations

from universal_ai_tools.embeddings.minilm import MODEL_NAME, MiniLMEmbedder, default_model_dir

__all__ = ["MODEL_NAME", "MiniLMEmbedder", "default_model_dir"]
