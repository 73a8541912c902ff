"""Plain, typed utility functions that are exposed as HTTP endpoints."""
