"""The guard's override console: server-rendered pages, session cookie and CSRF helpers."""
