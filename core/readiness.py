"""Readiness: can this process serve requests that need the database?

Liveness (/api/health) never touches the database: a database outage must
not get healthy processes restarted. Readiness (/api/ready) asks it: a load
balancer stops sending traffic while it answers 503.
"""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

_migrated = False  # once true it stays true: migrations are not unapplied under us


def database_problem() -> str | None:
    """Return why the database cannot serve requests, or None when it can.

    Sync: call it through sync_to_async. Errors of the database itself
    (unreachable, pool timeout) propagate, and the API answers them with 503.
    """
    global _migrated
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if not _migrated:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return f"{len(plan)} migration(s) not applied; run `manage.py migrate`."
        _migrated = True
    return None
