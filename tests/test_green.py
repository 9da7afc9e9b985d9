"""The green-thread library is the one the process was patched with; one
merely imported (as in tests and the Celery worker) does not count."""

import subprocess
import sys

import pytest

from .live import ROOT, child_environ


@pytest.mark.parametrize(
    ('patch', 'mode'),
    [
        ('import eventlet; eventlet.monkey_patch()', 'eventlet'),
        ('from gevent import monkey; monkey.patch_all()', 'gevent'),
        ('import eventlet, gevent', 'threading'),
        ('', 'threading'),
    ],
    ids=['eventlet', 'gevent', 'imported only', 'neither'],
)
def test_the_mode_is_what_the_process_was_patched_with(patch, mode):
    code = f'{patch}\nfrom flack.green import active_mode\nprint(active_mode())'

    run = subprocess.run(
        [sys.executable, '-c', code],
        cwd=ROOT,
        env=child_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.stdout.strip() == mode, run.stderr
