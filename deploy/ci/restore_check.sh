#!/usr/bin/env bash
# Backups are only as good as a restore: back up a database with data in it exactly as docs/deploy.md
# says (pg_dump), restore it into a new database (pg_restore), and prove the copy whole:
#   - manage.py check, no migration left to apply, the append-only triggers present, and the same
#     number of rows in every table as the original;
#   - then manage.py verifyaudit walks the audit trail's hash chains in the copy.
# Prints "restore: ok", or what failed. Uses two databases of its own on the CI PostgreSQL, dropped
# at the end. CI_POSTGRES_URL: a maintenance connection that may create databases.
set -euo pipefail

cd "$(dirname "$0")/../.."
ADMIN_URL="${CI_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
suffix="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
SOURCE="escalations_ci_backup_${suffix}"
RESTORED="escalations_ci_restored_${suffix}"
url_for() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "$1"; }
SOURCE_URL="$(url_for "$SOURCE")"
work="$(mktemp -d)"
cleanup() {
  psql "$ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS ${SOURCE} WITH (FORCE)" || true
  psql "$ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS ${RESTORED} WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "restore: FAILED ($*)"; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"
app() { env DJANGO_SETTINGS_MODULE=settings.prod DJANGO_SECRET_KEY=restore-check-only-not-a-secret \
  DJANGO_ALLOWED_HOSTS=localhost LOG_FORMAT=text "$@"; }

echo "== a database with data: migrate, then the demo data (escalations, reminders, audit events)"
psql "$ADMIN_URL" -qAtc "CREATE DATABASE ${SOURCE}"
app DATABASE_URL="$SOURCE_URL" deploy/container/entrypoint.sh migrate --verbosity 0
env DJANGO_SETTINGS_MODULE=settings.dev DATABASE_URL="$SOURCE_URL" python manage.py seeddemo >/dev/null
env DJANGO_SETTINGS_MODULE=settings.dev DATABASE_URL="$SOURCE_URL" python manage.py sendreminders >/dev/null

echo "== back up (docs/deploy.md, \"Backups and restore\", the same commands)"
DATABASE_MIGRATE_URL="$SOURCE_URL"
cd "$work"
BACKUP="escalations-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-password --file="$BACKUP" "$DATABASE_MIGRATE_URL"
ls -l "$BACKUP"

echo "== restore into a new database"
psql "$ADMIN_URL" -qAtc "CREATE DATABASE ${RESTORED}"
RESTORED_URL="${DATABASE_MIGRATE_URL%/*}/${RESTORED}"
pg_restore --exit-on-error --no-password --dbname="$RESTORED_URL" "$BACKUP"
cd - >/dev/null

echo "== the copy is whole"
app DATABASE_URL="$RESTORED_URL" python manage.py check --database default >/dev/null || fail "manage.py check failed on the copy"
app DATABASE_URL="$RESTORED_URL" python manage.py migrate --check >/dev/null || fail "the copy has migrations left to apply"
triggers="$(psql "$RESTORED_URL" -qAtc "SELECT count(*) FROM pg_trigger WHERE tgname IN ('auditevent_append_only', 'accesslog_append_only')")"
[ "$triggers" = 2 ] || fail "the copy's audit tables lost their append-only triggers ($triggers of 2)"
counts() {
  psql "$1" -qAt <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) FROM %I.%I', table_name, table_schema, table_name)
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
ORDER BY table_name
\gexec
SQL
}
counts "$SOURCE_URL" > "$work/source.counts"
counts "$RESTORED_URL" > "$work/restored.counts"
diff "$work/source.counts" "$work/restored.counts" || fail "row counts differ between the original and the copy"
tables="$(wc -l < "$work/source.counts")"
rows="$(awk '{ s += $2 } END { print s }' "$work/source.counts")"
events="$(awk '$1 == "escalations_auditevent" { print $2 }' "$work/source.counts")"
[ "${events:-0}" -gt 0 ] || fail "the backup had no audit events to restore"
echo "restored ${tables} tables, ${rows} rows (${events} audit events), the same as the original"
# verifyaudit records its check (a row of its own), so the copy is counted before it runs.
app DATABASE_URL="$RESTORED_URL" deploy/container/entrypoint.sh manage verifyaudit || fail "verifyaudit failed on the restored copy"
echo "restore: ok"
