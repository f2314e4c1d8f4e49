-- docker-compose only: the Postgres container's first start (docker-entrypoint-initdb.d) runs this
-- in the warehouse database before 01_roles_schemas.sql. Prefect's server keeps its own database;
-- MLflow's tracking store is the warehouse's `mlflow` schema (the agents read run metrics there).
create database prefect;
