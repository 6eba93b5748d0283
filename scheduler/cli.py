"""flask commands: database migrations, demo data, operator tools."""

from __future__ import annotations

import click
from flask import Flask

from scheduler.extensions import current_services


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""

    @app.cli.command("migrate")
    def migrate_command() -> None:
        """Apply database migrations (the release phase)."""
        from scheduler.migrate import upgrade

        upgrade(current_services().config.database_url)
        click.echo("database is up to date")

    @app.cli.command("demo")
    def demo_command() -> None:
        """Load example people, groups and gatherings."""
        from scheduler.demo import load_demo

        summary = load_demo(current_services())
        click.echo(summary)

    from scheduler.cli_admin import admin_group
    from scheduler.cli_outbox import outbox_group

    app.cli.add_command(outbox_group)
    app.cli.add_command(admin_group)
