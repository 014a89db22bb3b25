"""The browser UI: static files served at `/` and `/ui/...` by the same process."""
