"""OakData ingest server."""
