#!/usr/bin/env python
"""Flack's command line: run, db, test, lint, admin (``python manage.py --help``)."""

import os
import subprocess
import sys

import click
from flask.cli import FlaskGroup
from sqlalchemy import select

from flack import create_app
from flack.auth import find_user
from flack.config import (
    INSTANCE_PATH,
    environ_for_gunicorn,
    exit_on_config_error,
    load_settings,
    load_web_server_settings,
    masked,
)
from flack.extensions import db
from flack.models import User
from flack.moderation import set_admin

ROOT = os.path.dirname(os.path.abspath(__file__))


def _create_app():
    return exit_on_config_error(create_app, process='cli')


@click.group(cls=FlaskGroup, create_app=_create_app)
def cli():
    """Flack, a real-time chat service."""


@cli.command('run', with_appcontext=False)
@click.option('--host', default='127.0.0.1', show_default=True, help='Address to listen on.')
@click.option('--port', type=int, help='Port (default: $PORT, else 5000).')
def run(host, port):
    """Serve Flack with gunicorn, as the Procfile's web process does."""
    port = port or exit_on_config_error(load_web_server_settings)['port']
    # gunicorn reads --bind after gunicorn.conf.py: this replaces its bind on
    # every interface. An IPv6 address goes in brackets (--host ::1).
    bind = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
    command = ['-m', 'gunicorn', '--config', 'gunicorn.conf.py', '--bind', bind, 'flack.wsgi:app']
    os.chdir(ROOT)
    os.execve(sys.executable, [sys.executable, *command], environ_for_gunicorn())


@cli.command('config', with_appcontext=False)
def show_config():
    """Print the effective settings, secrets masked."""
    for name, value in sorted(exit_on_config_error(load_settings, INSTANCE_PATH).items()):
        click.echo(f'{name}={masked(name, value)}')


@cli.command('test', with_appcontext=False, context_settings={'ignore_unknown_options': True})
@click.argument('pytest_args', nargs=-1, type=click.UNPROCESSED)
def test(pytest_args):
    """Run the test suite (arguments go to pytest)."""
    sys.exit(subprocess.call([sys.executable, '-m', 'pytest', *pytest_args], cwd=ROOT))


@cli.command('lint', with_appcontext=False)
def lint():
    """Check style with ruff."""
    checks = [['ruff', 'check', '.'], ['ruff', 'format', '--check', '.']]
    sys.exit(max(subprocess.call([sys.executable, '-m', *check], cwd=ROOT) for check in checks))


@cli.group('admin')
def admin():
    """Administrators: they delete any message and suspend users."""


def _user_named(nickname):
    user = find_user(nickname)
    if user is None:
        raise click.ClickException(f'No user reads as {nickname!r}.')
    return user


@admin.command('grant')
@click.argument('nickname')
def grant_admin(nickname):
    """Make the user NICKNAME an administrator."""
    user = _user_named(nickname)
    set_admin(user, True)
    click.echo(f'{user.nickname} (id {user.id}) is an administrator.')


@admin.command('revoke')
@click.argument('nickname')
def revoke_admin(nickname):
    """Take the role back from NICKNAME (ADMIN_NICKNAMES still names whom it names)."""
    user = _user_named(nickname)
    set_admin(user, False)
    named = ' ADMIN_NICKNAMES still names them.' if user.is_admin else ''
    click.echo(f'{user.nickname} (id {user.id}) is not granted the role.{named}')


@admin.command('list')
def list_admins():
    """The administrators: granted, or named by ADMIN_NICKNAMES and registered."""
    for user in db.session.scalars(select(User).order_by(User.nickname_key)):
        if user.is_admin:
            click.echo(f'{user.nickname} (id {user.id}){"" if user.admin else " (ADMIN_NICKNAMES)"}')


if __name__ == '__main__':
    cli()
