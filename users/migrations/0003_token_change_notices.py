"""PostgreSQL announces, on commit, every change that can stop a bearer token.

Whoever writes it (this API in any process, the admin, a shell, plain SQL),
a token revoked, re-dated, moved or deleted, or a user deactivated,
promoted, demoted or deleted, sends NOTIFY on the `users_token_changes`
channel, with the table and the operation as payload. Each server process
listens (users/token_changes.py) and forgets the tokens it verified. A
token's `last_used_at` and `name`, and a user's name, email and age, are
not announced: they stop nothing, and `last_used_at` is written once a
minute per busy token. Other databases have no NOTIFY: nothing is done.
"""

from typing import Any

from django.db import migrations

CHANNEL = "users_token_changes"  # users/token_changes.py

FORWARD = f"""
CREATE FUNCTION users_announce_token_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || TG_OP);
    RETURN NULL;
END
$$;
CREATE TRIGGER users_apitoken_announce_change
    AFTER UPDATE OF revoked_at, expires_at, digest, prefix, user_id OR DELETE
    ON users_apitoken FOR EACH STATEMENT
    EXECUTE FUNCTION users_announce_token_change();
CREATE TRIGGER users_apitoken_announce_truncate
    AFTER TRUNCATE ON users_apitoken FOR EACH STATEMENT
    EXECUTE FUNCTION users_announce_token_change();
CREATE TRIGGER users_user_announce_change
    AFTER UPDATE OF is_active, is_staff, is_superuser OR DELETE
    ON users_user FOR EACH STATEMENT
    EXECUTE FUNCTION users_announce_token_change();
CREATE TRIGGER users_user_announce_truncate
    AFTER TRUNCATE ON users_user FOR EACH STATEMENT
    EXECUTE FUNCTION users_announce_token_change();
"""

BACKWARD = """
DROP TRIGGER users_user_announce_truncate ON users_user;
DROP TRIGGER users_user_announce_change ON users_user;
DROP TRIGGER users_apitoken_announce_truncate ON users_apitoken;
DROP TRIGGER users_apitoken_announce_change ON users_apitoken;
DROP FUNCTION users_announce_token_change();
"""


def _on_postgresql(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_api_token"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD)),
    ]
