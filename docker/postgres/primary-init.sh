#!/bin/sh
# First start of the `postgres` service (docker-compose.yml): the role the streaming
# replica (`postgres-replica`) copies and follows the primary with. The official image runs
# /docker-entrypoint-initdb.d/ once, on an empty data directory; for a volume made before
# this script existed, see docs/operations.md ("A read replica").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$REPLICATION_PASSWORD';
SQL
# `all` in pg_hba.conf's database column does not cover replication connections.
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
