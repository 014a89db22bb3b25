"""Health, readiness, metrics, tracing and logging."""
