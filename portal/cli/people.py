"""``flask users``, ``flask tokens`` and ``flask check``."""

from __future__ import annotations

import secrets

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.auth import create_token
from portal.cli.connectivity import check_database, check_redis_or_fail, needs_database
from portal.extensions import db
from portal.models import User
from portal.models.auth import ROLES

MIN_PASSWORD_LENGTH = 10


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
    username = username.strip()
    if not username or len(username) > 64:
        raise click.BadParameter("must be 1 to 64 characters", param_hint="USERNAME")
    if db.session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        if if_missing:
            click.echo(f"User {username!r} already exists; left unchanged.")
            return
        raise click.ClickException(f"User {username!r} already exists.")
    if generate_password:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"must be at least {MIN_PASSWORD_LENGTH} characters", param_hint="--password")
    db.session.add(User(username=username, role=role, password_hash=generate_password_hash(password)))
    db.session.commit()
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
    user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"No user named {username!r} (create one with 'flask --app wsgi users create').")
    token = create_token(user, name)
    db.session.commit()
    click.echo(f"Token {name!r} for {username} ({user.role}); it will not be shown again:")
    click.echo(token)


@click.command("check")
@with_appcontext
def check_command() -> None:
    """Check that the database (DATABASE_URL) and Redis (REDIS_URL) answer."""
    check_database()
    check_redis_or_fail()
    click.echo("Database and Redis are reachable.")
