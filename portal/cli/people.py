"""``flask users``, ``flask tokens`` and ``flask check``."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext

from portal import accounts
from portal.cli.connectivity import check_database, check_redis_or_fail, needs_database
from portal.models.auth import ROLES


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
            password = secrets.token_urlsafe(12)
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
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@with_appcontext
@needs_database
def create_api_token(username: str, name: str) -> None:
    """Create an API token; it is printed once, alone on the last line, and stored hashed."""
    try:
        user, token = accounts.create_api_token(username, name)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Token {name!r} for {username} ({user.role}); it will not be shown again:")
    click.echo(token)


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check that the database (DATABASE_URL) and Redis (REDIS_URL) answer."""
    check_database()
    check_redis_or_fail()
    click.echo("Database and Redis are reachable.")
