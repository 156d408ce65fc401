#!/usr/bin/env bash
# Starts two Celery workers and the web app; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
queue="${ARBITER_CELERY_QUEUE:-arbiter}"
# Training and scoring go to a queue of their own (config.celery.route_task), so that imports and
# periodic jobs never wait behind hours of training. Exported: the web app routes by it too.
export ARBITER_TRAINING_QUEUE="${ARBITER_TRAINING_QUEUE:-arbiter-training}"
# Imports and the periodic jobs (--beat: expired labelling leases, dead-worker reaping, automatic
# retraining).
.venv/bin/celery -A config worker --hostname "arbiter@%h" --loglevel INFO --concurrency 2 -Q "$queue" \
  --beat --schedule "${ARBITER_VAR_DIR:-var}/celerybeat-schedule" &
default_worker=$!
# Model work, one run at a time.
.venv/bin/celery -A config worker --hostname "training@%h" --loglevel INFO --concurrency 1 \
  -Q "$ARBITER_TRAINING_QUEUE" &
training_worker=$!
trap 'kill "$default_worker" "$training_worker" 2>/dev/null || true; wait "$default_worker" "$training_worker" 2>/dev/null || true' EXIT INT TERM
echo "Arbiter: http://127.0.0.1:8000  (Ctrl-C stops the web app and the workers)"
.venv/bin/python manage.py runserver 127.0.0.1:8000
