"""The warehouse room: which PostgreSQL, its logins and infra SQL, the embedded server, the dbt
runner, COPY in and out, the forecast store, the panel the engine reads, snapshots on S3.

Owns every connection and every SQL statement outside dbt. Must not hold business rules (those
are dbt models, ``ml/`` or ``agents/``); may import ``frycast`` (settings) and ``ml``'s plain
data types (the panel it builds), never the flows, agents, importers or dashboard."""
