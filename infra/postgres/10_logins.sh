#!/bin/sh
# docker-compose only, first start: the passwords of the pipeline's, the reader's and the planner's
# logins (roles made by 01_roles_schemas.sql and 04_planning.sql), from the container's
# environment. The runner sets them again on every start (warehouse.db.apply_infra), so changing
# them in .env takes effect there.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname "${POSTGRES_DB:-frycast}" \
  -v owner_pw="${FRYCAST_OWNER_PASSWORD}" -v reader_pw="${FRYCAST_READER_PASSWORD}" \
  -v planner_pw="${FRYCAST_PLANNER_PASSWORD}" <<'SQL'
alter role frycast_owner password :'owner_pw';
alter role frycast_reader password :'reader_pw';
alter role frycast_planner password :'planner_pw';
SQL
