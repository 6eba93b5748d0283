"""`flask --app wsgi admin grant|revoke|list`: who is a site administrator.

The role is given only here, by someone with shell access to the deployment: no HTTP
endpoint can make anyone an administrator.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from scheduler.domain.errors import KindredError
from scheduler.extensions import current_services
from scheduler.models import User
from scheduler.services.accounts.identity import normalise_email

admin_group = AppGroup("admin", help="Grant, revoke and list site administrators.")


def _set_site_admin(email: str, is_admin: bool) -> str:
    """Set the role of the account with this email; the message to print."""
    try:
        address = normalise_email(email)
    except KindredError as exc:
        raise click.ClickException(exc.message) from exc
    session = current_services().db.session()
    try:
        user = session.scalars(select(User).where(User.email == address)).first()
        if user is None:
            raise click.ClickException(f"No account has the email {address}.")
        was_admin = user.is_site_admin
        user.is_site_admin = is_admin
        session.commit()
    finally:
        session.close()
    if was_admin == is_admin:
        return f"{address} {'already is' if is_admin else 'is not'} a site administrator"
    return f"{address} {'is now' if is_admin else 'is no longer'} a site administrator"


@admin_group.command("grant")
@click.argument("email")
def grant_command(email: str) -> None:
    """Make the account with EMAIL a site administrator."""
    click.echo(_set_site_admin(email, True))


@admin_group.command("revoke")
@click.argument("email")
def revoke_command(email: str) -> None:
    """Take the site administrator role from the account with EMAIL."""
    click.echo(_set_site_admin(email, False))


@admin_group.command("list")
def list_command() -> None:
    """The site administrators' emails, one a line."""
    session = current_services().db.session()
    try:
        emails = session.scalars(
            select(User.email).where(User.is_site_admin.is_(True)).order_by(User.email)
        )
        for email in emails:
            click.echo(email)
    finally:
        session.close()
