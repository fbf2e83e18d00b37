#!/bin/sh
# The one entry point of the image (and of the systemd units): the first argument picks the process.
#
#   web       gunicorn serving settings.wsgi (gunicorn.conf.py: workers from the cores, JSON logs)
#   worker    a Celery worker: the reminder sweep and deliveries
#   beat      Celery beat: one tick a minute (exactly one per installation; two are harmless, wasteful)
#   migrate   the database migrations, as the owner role when DATABASE_MIGRATE_URL is set
#   manage    any manage.py command: `manage createsuperuser`, `manage sendreminders` ...
#
# Anything else is run as given (a shell for debugging: `sh`). Each process replaces this script
# (exec), so it receives the stop signal itself and shuts down cleanly.
set -eu

cd "$(dirname "$0")/../.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-settings.prod}"
# A checkout's own virtual environment (the VM layout), whatever PATH the caller has; the image's is
# on its PATH already.
if [ -x .venv/bin/python ]; then
  PATH="$PWD/.venv/bin:$PATH"
  export PATH
fi

role="${1:-web}"
[ "$#" -gt 0 ] && shift

# Only gunicorn's workers share their Prometheus figures through files (gunicorn.conf.py makes the
# directory when none is named); in any other process the variable would only scatter files.
if [ "$role" != web ]; then
  unset PROMETHEUS_MULTIPROC_DIR
fi

case "$role" in
  web)
    exec gunicorn --config gunicorn.conf.py "$@" settings.wsgi
    ;;
  worker)
    exec celery --app settings worker --loglevel "${LOG_LEVEL:-INFO}" --without-gossip --without-mingle "$@"
    ;;
  beat)
    exec celery --app settings beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule "${CELERY_BEAT_SCHEDULE:-/tmp/celerybeat-schedule}" "$@"
    ;;
  migrate)
    # The app's role may not ALTER or CREATE; migrations run as the role that owns the tables. The
    # migrate command itself connects as DATABASE_MIGRATE_URL's role and then grants DATABASE_URL's
    # role its rights, so DATABASE_URL must still name the app's role here: replacing it by the
    # owner's URL would leave the app's role with no rights at all. Only when no DATABASE_URL is
    # given does the owner's stand in for it (there is then no other role to grant).
    if [ -z "${DATABASE_URL:-}" ] && [ -n "${DATABASE_MIGRATE_URL:-}" ]; then
      DATABASE_URL="$DATABASE_MIGRATE_URL"
      export DATABASE_URL
    fi
    exec python manage.py migrate --noinput "$@"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
