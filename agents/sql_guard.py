"""What the agents' SQL tool lets through: exactly one plain SELECT, checked by PostgreSQL's own
parser (pglast wraps libpg_query) before anything reaches the server.

This is the second wall, not the first: the tool connects as the reader login, which cannot
write, create, read files or change role whatever it sends. The check turns what would be a
server error (or a session trick such as ``select 1; commit; reset role``) into a clear refusal
the model can read, and keeps a statement from doing anything the timeout cannot bound.
"""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast, parse_sql
from pglast.parser import ParseError

# Functions that write, read the server's files, reach other servers, change settings or locks,
# or run SQL from a string (which would slip past this parser).
DENIED_FUNCTIONS = frozenset(
    {
        "set_config",
        "nextval",
        "setval",
        "lastval",
        "txid_current",
        "pg_current_xact_id",
        "pg_notify",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "database_to_xml",
        "database_to_xmlschema",
        "database_to_xml_and_xmlschema",
        "schema_to_xml",
        "schema_to_xmlschema",
        "schema_to_xml_and_xmlschema",
        "ts_stat",
        "ts_rewrite",
        "pg_import_system_collations",
    }
)
DENIED_PREFIXES = (
    "lo_",  # large objects: lo_import / lo_export read and write server files
    "pg_read_",  # pg_read_file, pg_read_binary_file
    "pg_ls_",  # pg_ls_dir, pg_ls_logdir, ...
    "pg_stat_file",
    "pg_file_",
    "dblink",
    "pg_advisory",
    "pg_try_advisory",
    "pg_terminate_",
    "pg_cancel_",
    "pg_reload_",
    "pg_rotate_",
    "pg_switch_",
    "pg_create_",
    "pg_drop_",
    "pg_replication_",
    "pg_logical_",
    "pg_stat_reset",
    "pg_promote",
    "pg_log_",
)
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


class Refused(ValueError):
    """The statement is not one the SQL tool runs; the message says why."""


def check_select(query: str) -> None:
    """Raise :class:`Refused` unless ``query`` is exactly one SELECT that only reads."""
    if not isinstance(query, str) or not query.strip():
        raise Refused("query must be a non-empty SQL string")
    try:
        statements = parse_sql(query)
    except ParseError as exc:
        raise Refused(f"not valid PostgreSQL: {exc}") from exc
    if len(statements) != 1:
        raise Refused(f"exactly one statement per call; this has {len(statements)}")
    stmt = statements[0].stmt
    if not isinstance(stmt, ast.SelectStmt):
        kind = type(stmt).__name__.removesuffix("Stmt")
        raise Refused(f"only a SELECT runs here (this is {kind.upper()})")
    for node in _walk(stmt):
        if isinstance(node, _WRITES):
            raise Refused("a data-modifying statement inside a SELECT is not allowed")
        if isinstance(node, ast.SelectStmt):
            if node.intoClause is not None:
                raise Refused("SELECT ... INTO creates a table; not allowed")
            if node.lockingClause:
                raise Refused("FOR UPDATE / FOR SHARE locks rows; not allowed")
        if isinstance(node, ast.FuncCall):
            name = node.funcname[-1].sval.lower()
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise Refused(f"function {name}() is not allowed in a read-only review")


def _walk(node) -> Iterator[ast.Node]:
    """Every AST node below ``node`` (inclusive)."""
    if isinstance(node, ast.Node):
        yield node
        for attr in type(node).__slots__:
            yield from _walk(getattr(node, attr, None))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)
