#!/bin/sh
# docker-compose only, first start: the passwords of the pipeline's and the reader's logins (roles
# made by 01_roles_schemas.sql), from the container's environment. The runner sets them again on
# every start (warehouse.db.apply_infra), so changing them in .env takes effect there.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname "${POSTGRES_DB:-frycast}" \
  -v owner_pw="${FRYCAST_OWNER_PASSWORD}" -v reader_pw="${FRYCAST_READER_PASSWORD}" <<'SQL'
alter role frycast_owner password :'owner_pw';
alter role frycast_reader password :'reader_pw';
SQL
