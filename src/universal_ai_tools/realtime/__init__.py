"""Real-time rooms: multi-room chat, presence, shared AI sessions, files, resumable streams."""
