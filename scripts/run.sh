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
port="${PORT:-8000}"
# --insecure: static files are served with DJANGO_DEBUG=0 too (the development server only).
.venv/bin/python manage.py runserver --insecure "127.0.0.1:$port" &
web=$!
trap 'kill "$web" "$default_worker" "$training_worker" 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
# The address is printed once the server answers, so that it is the last thing a newcomer reads.
for _ in $(seq 120); do
  if .venv/bin/python -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/accounts/login/', timeout=1)" 2>/dev/null; then
    echo "Arbiter: open http://127.0.0.1:$port  (Ctrl-C stops the web app and the workers)"
    break
  fi
  kill -0 "$web" 2>/dev/null || break
  sleep 1
done
wait "$web"
