"""Browser tests: headless Chromium against the production server (uvicorn)."""
