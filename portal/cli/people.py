"""``flask users``, ``flask tokens`` and ``flask check``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal import accounts
from portal.cli.connectivity import check_database, check_redis_or_fail, needs_database
from portal.clock import iso_utc
from portal.models.auth import ROLES, TOKEN_SCOPES


@click.group("users")
def users_group() -> None:
    """Portal users."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", help="Prompted for when not given.")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once.")
@click.option("--if-missing", is_flag=True, help="Do nothing when the user already exists.")
@with_appcontext
@needs_database
def create_user(username: str, role: str, password: str | None, generate_password: bool, if_missing: bool) -> None:
    """Create a portal user with role admin (may act) or viewer (may look)."""
    try:
        username = accounts.check_new_user(username, role)
        if if_missing and accounts.find_user(username) is not None:
            click.echo(f"User {username!r} already exists; left unchanged.")
            return
        if accounts.find_user(username) is not None:
            raise click.ClickException(f"User {username!r} already exists.")
        if generate_password:
            password = accounts.generate_password()
        elif password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        accounts.create_user(username, role, password)
    except accounts.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    click.echo(f"Created {role} user {username!r}.")
    if generate_password:
        click.echo(f"Password (shown once): {password}")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for scripts (Authorization: Bearer)."""


@tokens_group.command("create")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option(
    "--scope",
    type=click.Choice(TOKEN_SCOPES),
    default="admin",
    show_default=True,
    help="admin: every API endpoint (with the user's role); inbox: the student endpoints only; "
    "attendance: POST /api/attendance only.",
)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, accounts.MAX_EXPIRY_DAYS),
    help="Refused from that many days on (default: never expires).",
)
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@with_appcontext
@needs_database
def create_api_token(username: str, scope: str, expires_in_days: int | None, name: str) -> None:
    """Create an API token; it is printed once, alone on the last line, and stored hashed."""
    try:
        user, token, row = accounts.create_api_token(username, name, scope, expires_in_days)
    except accounts.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    expiry = f"expires {iso_utc(row.expires_at)}" if row.expires_at else "never expires"
    click.echo(
        f"Token {row.id} {row.name!r} for {username} ({user.role}), scope {scope}, {expiry}; "
        "it will not be shown again:"
    )
    click.echo(token)


TOKEN_COLUMNS = ("id", "user", "name", "scope", "created", "last used", "expires", "revoked")


@tokens_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@with_appcontext
@needs_database
def list_api_tokens(username: str | None) -> None:
    """List the tokens (never the tokens themselves): times in UTC, ISO 8601; '-' for none."""
    try:
        rows = [token.as_row() for token in accounts.list_tokens(username)]
    except accounts.AccountError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    if not rows:
        click.echo("No API tokens.")
        return
    widths = {col: max(len(col), *(len(row[col]) for row in rows)) for col in TOKEN_COLUMNS}
    click.echo("  ".join(col.ljust(widths[col]) for col in TOKEN_COLUMNS).rstrip())
    for row in rows:
        click.echo("  ".join(row[col].ljust(widths[col]) for col in TOKEN_COLUMNS).rstrip())


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(min=1))
@with_appcontext
@needs_database
def revoke_api_token(token_id: int) -> None:
    """Revoke token ID: every web process refuses it from its next request on."""
    try:
        row, revoked_now = accounts.revoke_token(token_id)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    when = iso_utc(row.revoked_at)
    if revoked_now:
        click.echo(f"Revoked token {row.id} {row.name!r} of {row.user.username} at {when}.")
    else:
        click.echo(f"Token {row.id} {row.name!r} of {row.user.username} was already revoked at {when}; unchanged.")


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check that the database (DATABASE_URL) and Redis (REDIS_URL) answer."""
    check_database()
    check_redis_or_fail()
    click.echo("Database and Redis are reachable.")
