#!/usr/bin/env bash
# `make dev`: migrate, seed demo data when empty, create an admin, then run web + worker +
# scheduler (and a private redis-server when REDIS_URL does not answer) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export FLASK_APP=wsgi
export FLASK_ENV="${FLASK_ENV:-development}"
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

procfile=Procfile.dev
# With REDIS_SENTINELS set every process finds the master through the sentinels: no private Redis.
if [ -z "${REDIS_SENTINELS:-}" ] && \
   ! $BIN/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$REDIS_URL" 2>/dev/null; then
  if command -v redis-server >/dev/null 2>&1; then
    export DEV_REDIS_PORT="${DEV_REDIS_PORT:-6390}"
    export REDIS_URL="redis://127.0.0.1:${DEV_REDIS_PORT}/0"
    mkdir -p dev-redis
    echo "REDIS_URL was not reachable: starting a private redis-server on port ${DEV_REDIS_PORT} (data in dev-redis/)."
    redis-server --port "$DEV_REDIS_PORT" --bind 127.0.0.1 --dir dev-redis --appendonly yes --save "" --daemonize yes \
      --pidfile "$PWD/dev-redis/redis.pid" --logfile "$PWD/dev-redis/redis.log"
    trap 'kill "$(cat dev-redis/redis.pid)" 2>/dev/null || true' EXIT
    for _ in $(seq 1 50); do redis-cli -p "$DEV_REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  else
    echo "Redis is not reachable at REDIS_URL=$REDIS_URL and redis-server is not installed." >&2
    echo "Install it (sudo apt-get install redis-server) or set REDIS_URL to a running Redis." >&2
    exit 1
  fi
fi

$BIN/flask db upgrade
seeded=$($BIN/flask demo seed --students "${DEMO_STUDENTS:-300}" --if-empty)
echo "$seeded"
if [[ "$seeded" == Seeded* ]]; then
  # A newcomer sees alerts at once: the first scan now (its letters wait in Redis for the
  # worker started below) and the statistics the at-risk page reads.
  $BIN/flask thresholds check
  $BIN/flask jobs trigger materialized-view-refresh
fi
$BIN/flask users create admin --role admin --generate-password --if-missing
echo
echo "Portal: http://127.0.0.1:5000  (user: admin; the password is printed above the first time)"
if [ -n "${REDIS_SENTINELS:-}" ]; then
  echo "Queues: REDIS_SENTINELS=$REDIS_SENTINELS REDIS_SENTINEL_MASTER=${REDIS_SENTINEL_MASTER:-} $BIN/rq info -c workers.rq_settings"
else
  echo "Queues: $BIN/rq info --url $REDIS_URL"
fi
echo
exec_status=0
$BIN/honcho start -f "$procfile" || exec_status=$?
exit "$exec_status"
