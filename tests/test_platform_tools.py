"""foreman, honcho and python-dotenv, the real programs, on a .env copied from .env.example.

Each test copies .env.example to a .env of its own and fills in what a
developer would: SECRET_KEY, DATABASE_URL (a fresh SQLite file in a folder
whose name holds a space and a #, so that the value needs both quoting rules)
and PORT. Then Flack runs through each tool: ``foreman start``, ``honcho
start`` and ``python manage.py run`` (whose Flask command line loads the .env
with python-dotenv) serve /healthz, ``python manage.py config`` prints the
same settings under all three, and the scaled formation (web, worker, clock)
on PostgreSQL and a Redis server of the test's own previews a link and stops
on SIGTERM.
"""

import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from .live import ROOT, LiveFlack, answers_healthz, child_environ, flack_settings, free_port, wait_for
from .pages import html_page
from .services import PostgresDatabase, RedisServer, service_missing
from .test_scaled import Api

# python-dotenv is read by manage.py's Flask command line, which finds .env in the current folder.
TOOLS = ('foreman', 'honcho', 'dotenv')
MANAGE = ('python', str(ROOT / 'manage.py'))
# The platform's shutdown window, given to foreman (its own default is 5 s, then SIGKILL).
STOP_WINDOW = 30


class DotEnv:
    """A folder holding a .env copied from .env.example, some settings filled in."""

    def __init__(self, tmp_path, **values):
        self.folder = tmp_path / 'app'
        self.folder.mkdir()
        self.path = self.folder / '.env'
        self.port = free_port()
        self.database = tmp_path / 'room #1 data' / 'flack.sqlite'
        self.database.parent.mkdir()
        self.text = (ROOT / '.env.example').read_text()
        filled = {
            # Quoted, as the .env.example header says, for the spaces and the #.
            'SECRET_KEY': f"'{secrets.token_hex(32)} with spaces #and a hash'",
            'DATABASE_URL': f"'sqlite:///{self.database}'",
            'PORT': self.port,
        }
        self.fill_in(**{**filled, **values})

    def fill_in(self, **values):
        """Set each of ``values`` on its line, uncommenting it, as a developer edits the file."""
        for name, value in values.items():
            self.text, count = re.subn(rf'^(# )?{name}=.*$', f'{name}={value}', self.text, flags=re.MULTILINE)
            assert count == 1, f'{name} is not on one line of .env.example'
        self.path.write_text(self.text)

    def uncomment_all(self):
        """Uncomment every setting left commented out, with the value the line shows."""
        self.text = re.sub(r'^# ([A-Z][A-Z0-9_]*=)', r'\1', self.text, flags=re.MULTILINE)
        self.path.write_text(self.text)


def tool_environ(tool):
    """This process's environment, less Flack's settings: the .env is their one source.

    child_environ also turns off the python-dotenv calls in Flack (flack.wsgi,
    flack.worker, Flask's command line), so that under foreman and honcho only
    the tool reads the file, and no .env in the checkout is read; for python-dotenv,
    manage.py's command line loads the .env of the current folder.
    """
    environ = child_environ({'FLASK_SKIP_DOTENV': None} if tool == 'dotenv' else {})
    if tool != 'dotenv' and shutil.which(tool, path=environ['PATH']) is None:
        service_missing(tool, f'the {tool} program is not installed')
    return environ


def run_once(tool, dotenv, *argv):
    """``argv`` run in the .env's folder, with the settings ``tool`` reads from it."""
    command = list(argv) if tool == 'dotenv' else [tool, 'run', *argv]
    done = subprocess.run(
        command, cwd=dotenv.folder, env=tool_environ(tool), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def effective_settings(tool, dotenv):
    return run_once(tool, dotenv, *MANAGE, 'config')


class Started:
    """``tool`` started on the Procfile's ``processes`` with the .env, as a developer starts Flack locally."""

    def __init__(self, tool, dotenv, processes, tmp_path):
        self.tool = tool
        self.url = f'http://127.0.0.1:{dotenv.port}'
        self.log_path = tmp_path / f'{tool}.log'
        self._log = open(self.log_path, 'wb')  # noqa: SIM115  (closed in stop)
        # foreman and honcho read the Procfile and the .env given; honcho runs
        # the processes in its own folder, foreman in the Procfile's.
        procfile = ['-f', str(ROOT / 'Procfile'), '-e', str(dotenv.path)]
        commands = {
            'foreman': [
                'foreman',
                'start',
                *procfile,
                '-t',
                str(STOP_WINDOW),
                '-m',
                ','.join(f'{p}=1' for p in processes),
            ],
            'honcho': ['honcho', 'start', *procfile, *processes],
            'dotenv': [*MANAGE, 'run'],
        }
        assert tool != 'dotenv' or processes == ['web']
        self.process = subprocess.Popen(
            commands[tool],
            cwd=dotenv.folder if tool == 'dotenv' else ROOT,
            env=tool_environ(tool),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self):
        return self.log_path.read_text(errors='replace')

    def wait_until_serving(self):
        wait_for(lambda: answers_healthz(self.url, self.process, self.log_path), f'{self.url}/healthz', 60)

    def stop(self):
        """SIGTERM to the tool alone, as a platform or a terminal stops it.

        Returns the seconds it took, and the process groups left running (killed then).
        """
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_WINDOW + 10)
        except subprocess.TimeoutExpired:
            pass
        seconds = time.monotonic() - started
        left = self.leftovers()
        for group in left:
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        self._log.close()
        return seconds, left

    def leftovers(self):
        """The process groups, of the tool and of each process it started, that still have a member."""
        started = re.findall(r'started (?:with pid |\(pid=)(\d+)', self.output())
        left = []
        for group in {self.process.pid, *map(int, started)}:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                continue
            left.append(group)
        return left

    def exit_codes(self):
        """Each process's exit status, as the tool reports it."""
        foreman = re.findall(r'(\w+\.\d+)\s+\| exited with code (\d+)', self.output())
        honcho = re.findall(r'(\w+\.\d+) stopped \(rc=(-?\d+)\)', self.output())
        return {name: int(code) for name, code in foreman + honcho}


def assert_stopped_on_their_own(started, processes):
    seconds, left = started.stop()
    output = started.output()[-5000:]

    assert seconds < STOP_WINDOW, output
    assert left == [], output
    assert 'SIGKILL' not in started.output(), output
    # honcho answers SIGTERM with 143 (128 + 15), as a shell does; foreman with its processes' status.
    assert started.process.returncode == (143 if started.tool == 'honcho' else 0), output
    if started.tool != 'dotenv':
        assert started.exit_codes() == {f'{name}.1': 0 for name in processes}, output


def test_env_example_writes_each_value_in_the_one_form_all_three_read_alike():
    settings = re.findall(r'^(# )?([A-Z][A-Z0-9_]*)=(.*)$', (ROOT / '.env.example').read_text(), re.MULTILINE)
    names = [name for _, name, _ in settings]

    assert sorted(names) == sorted(set(names)) == sorted(flack_settings())
    # Flack reads an empty value as unset, but foreman exports it: gunicorn
    # and foreman's own base port (PORT=) would choke on it.
    assert [name for commented, name, value in settings if not commented and not value] == []
    for _, name, value in settings:
        # Unquoted with nothing foreman, honcho or python-dotenv reads its own
        # way (spaces, #, quotes, backslashes, $), or in single quotes.
        assert re.fullmatch(r"""[^\s#'"\\$]*|'[^'\\]*'""", value), name


@pytest.mark.parametrize('tool', TOOLS)
def test_a_env_copied_from_env_example_serves_flack_under_each_tool(tmp_path, tool):
    dotenv = DotEnv(tmp_path)
    run_once(tool, dotenv, *MANAGE, 'db', 'upgrade')
    started = Started(tool, dotenv, ['web'], tmp_path)
    try:
        started.wait_until_serving()
        api = Api(started.url)
        api.new_user('susan')
        api.http.close()  # an idle keep-alive connection would hold the web process
    finally:
        assert_stopped_on_their_own(started, ['web'])

    # The web process used the SQLite file the .env names, its path whole.
    with sqlite3.connect(dotenv.database) as database:
        assert database.execute('SELECT nickname FROM users').fetchall() == [('susan',)]


def test_manage_config_prints_the_same_settings_under_each_tool(tmp_path):
    dotenv = DotEnv(tmp_path)
    printed = {tool: effective_settings(tool, dotenv) for tool in TOOLS}
    settings = dict(line.split('=', 1) for line in printed['dotenv'].splitlines())

    assert printed['foreman'] == printed['dotenv'] and printed['honcho'] == printed['dotenv']
    # A space and a # came through all three parsers.
    assert settings['SQLALCHEMY_DATABASE_URI'] == f'sqlite:///{dotenv.database}'
    assert settings['PORT'] == str(dotenv.port)
    assert settings['FLACK_ENV'] == 'development'


def test_uncommenting_the_defaults_env_example_shows_changes_no_setting_under_any_tool(tmp_path):
    dotenv = DotEnv(tmp_path)
    commented = effective_settings('dotenv', dotenv)
    dotenv.uncomment_all()

    assert not re.search(r'^# [A-Z][A-Z0-9_]*=', dotenv.text, re.MULTILINE)
    # The rates hold spaces; REDIS_URL=, LOG_LEVEL= and the like are empty, which means unset.
    assert "RATELIMIT_POSTS_PER_USER='60 per minute'" in dotenv.text and '\nREDIS_URL=\n' in dotenv.text
    assert 'RATELIMIT_POSTS_PER_USER=60 per minute' in commented.splitlines()
    for tool in TOOLS:
        assert effective_settings(tool, dotenv) == commented, tool


@pytest.mark.parametrize('tool', ['foreman', 'honcho'])
def test_with_port_commented_out_web_gets_port_5000(tmp_path, tool):
    procfile = tmp_path / 'Procfile'
    procfile.write_text('web: printenv PORT\n')
    (tmp_path / '.env').write_text((ROOT / '.env.example').read_text())
    done = subprocess.run(
        [tool, 'start', '-f', str(procfile), '-e', str(tmp_path / '.env')],
        cwd=tmp_path,
        env=tool_environ(tool),  # without PORT, as it is a Flack setting
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert re.search(r'web\.1\s+\| 5000$', done.stdout, re.MULTILINE), done.stdout + done.stderr


@pytest.mark.parametrize('tool', ['foreman', 'dotenv'])
def test_an_empty_web_concurrency_in_the_env_is_the_default(tmp_path, tool):
    dotenv = DotEnv(tmp_path, WEB_CONCURRENCY='')
    started = Started(tool, dotenv, ['web'], tmp_path)
    try:
        started.wait_until_serving()
    finally:
        assert_stopped_on_their_own(started, ['web'])

    assert started.output().count('Booting worker') == 1


def test_an_empty_web_concurrency_from_the_platform_is_the_default(tmp_path):
    with LiveFlack(tmp_path, WEB_CONCURRENCY='') as live:
        assert requests.get(f'{live.url}/healthz', timeout=10).status_code == 200

    assert live.log.read_text().count('Booting worker') == 1


@pytest.mark.scaled
@pytest.mark.parametrize('tool', ['foreman', 'honcho'])
def test_the_scaled_formation_from_the_env_previews_a_link_and_stops_on_sigterm(tmp_path, serve, tool):
    processes = ['web', 'worker', 'clock']
    page = serve()
    page.routes['/page'] = html_page('<title>A local page</title>')
    redis_server = RedisServer(tmp_path).start()
    database = PostgresDatabase()
    try:
        dotenv = DotEnv(
            tmp_path,
            DATABASE_URL=database.url,
            REDIS_URL=redis_server.url,
            LINK_PREVIEWS_ALLOW_PRIVATE=1,  # the page is on a loopback address
        )
        run_once(tool, dotenv, *MANAGE, 'db', 'upgrade')
        started = Started(tool, dotenv, processes, tmp_path)
        try:
            started.wait_until_serving()
            wait_for(lambda: ' ready.' in started.output(), 'the worker to be ready', 60)
            api = Api(started.url)
            _, token = api.new_user('susan')
            posted = api.post(token, f'a page: {page.url("/page")}')

            def previewed():
                html = api.call('GET', f'/api/messages/{posted["id"]}').json()['html']
                return '<blockquote>' in html and html

            html = wait_for(previewed, 'the preview', 60)
            api.http.close()
            # The worker's pool child stores the preview, then tells the parent
            # the task is done; a SIGTERM in between finds a task running, and
            # Celery's soft shutdown then waits its 10 s, past honcho's 5.
            time.sleep(1)
        finally:
            assert_stopped_on_their_own(started, processes)
        assert 'A local page' in html
    finally:
        redis_server.stop()
        database.drop()
