#!/usr/bin/env bash
# Starts a Celery worker and the web app; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
queues="${ARBITER_CELERY_QUEUE:-arbiter}"
if [ -n "${ARBITER_TRAINING_QUEUE:-}" ] && [ "$ARBITER_TRAINING_QUEUE" != "$queues" ]; then
  queues="$queues,$ARBITER_TRAINING_QUEUE"
fi
# --beat: the periodic jobs (expired labelling leases, stale-run reaping, automatic retraining) run
# inside this one worker.
.venv/bin/celery -A config worker --loglevel INFO --concurrency 1 -Q "$queues" \
  --beat --schedule "${ARBITER_VAR_DIR:-var}/celerybeat-schedule" &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Arbiter: http://127.0.0.1:8000  (Ctrl-C stops the web app and the worker)"
# --insecure: static files are served with DJANGO_DEBUG=0 too (the development server only).
.venv/bin/python manage.py runserver --insecure 127.0.0.1:8000
