#!/usr/bin/env bash
# Starts a Celery worker and the web app; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/celery -A config worker --loglevel INFO --concurrency 1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Arbiter: http://127.0.0.1:8000  (Ctrl-C stops the web app and the worker)"
.venv/bin/python manage.py runserver 127.0.0.1:8000
