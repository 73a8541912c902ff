# syntax=docker/dockerfile:1
# Build: docker build -t ninja-service .
# Run:   docker run -e DJANGO_SECRET_KEY=... -e DATABASE_URL=... -p 8000:8000 ninja-service
# Migrate (an explicit step, never at start-up):
#        docker run --rm -e DJANGO_SECRET_KEY=... -e DATABASE_URL=... ninja-service \
#            python manage.py migrate
# Or the whole stack (server, job worker, migrate, PostgreSQL, Redis):
#        cp .env.example .env  # then set its secrets
#        docker compose up -d

FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
# collectstatic only reads settings; the key is a build-time placeholder.
RUN DJANGO_SECRET_KEY=collectstatic-only /opt/venv/bin/python manage.py collectstatic --noinput

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEB_CONCURRENCY=2 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=30
RUN useradd --system --uid 10001 --no-create-home app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
USER 10001
EXPOSE 8000
# Liveness, as a platform probes it: /api/health answers 200 whatever the Host
# header (core/middleware.py) and is exempt from the HTTPS redirect. The slim
# image has no curl; urlopen() raises on any status but 2xx, so python exits 1.
# A container running another command (the job worker, migrate) turns it off
# (compose.yaml: `healthcheck: disable: true`).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2)"]
# uvicorn (through core/serve.py, which exits 0 after a graceful stop) reads
# WEB_CONCURRENCY (worker processes) and the UVICORN_* variables.
CMD ["python", "-m", "core.serve", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
