"""The model gateway: OpenAI- and Ollama-compatible APIs over pluggable providers."""
