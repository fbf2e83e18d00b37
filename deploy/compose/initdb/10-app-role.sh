#!/bin/sh
# Run once by the PostgreSQL image on its first start (/docker-entrypoint-initdb.d), as the owner
# POSTGRES_USER: the app's role, which web, worker and beat connect as (DATABASE_URL). It gets no
# rights here: every `migrate` (as the owner, DATABASE_MIGRATE_URL) grants it exactly what the app may
# do, tables added later included (docs/deploy.md, "Database roles").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app="$APP_DB_USER" -v password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE :"app" LOGIN PASSWORD :'password';
SQL
