"""Where the web process listens: the Procfile's on every interface, IPv6 and
IPv4 (a platform's router may come over either), ``manage.py run`` on
127.0.0.1 only (a developer's machine shares nothing)."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from .live import ROOT, LiveFlack, answers_healthz, wait_for

pytestmark = pytest.mark.skipif(not Path('/proc/net/tcp6').exists(), reason='reads Linux /proc/net')


def listening_addresses(port):
    """The addresses of the TCP sockets listening on ``port`` on this machine."""
    addresses = set()
    for table, family in (('/proc/net/tcp', socket.AF_INET), ('/proc/net/tcp6', socket.AF_INET6)):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, local_port = local.split(':')
            if state == '0A' and int(local_port, 16) == port:  # 0A: LISTEN
                # The kernel prints the address as 32-bit words in host order.
                raw = b''.join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8))
                addresses.add(socket.inet_ntop(family, raw))
    return addresses


def answers(host, port):
    try:
        return requests.get(f'http://{host}:{port}/healthz', timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def other_address():
    """An address of this machine that is not 127.0.0.1: its own on the
    network if it has one, else another loopback address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(('192.0.2.1', 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            address = '127.0.0.1'
    return address if address != '127.0.0.1' else '127.0.0.2'


def test_the_procfile_web_answers_over_ipv4_and_ipv6(tmp_path):
    with LiveFlack(tmp_path) as live:
        assert answers('127.0.0.1', live.port)
        assert answers('[::1]', live.port)
        assert answers(other_address(), live.port)
        # One dual-stack socket here (Linux, bindv6only=0); IPv4 gets its own
        # where the host makes IPv6 sockets IPv6-only.
        assert listening_addresses(live.port) in ({'::'}, {'::', '0.0.0.0'})


def test_manage_py_run_answers_on_127_0_0_1_only(tmp_path):
    live = LiveFlack(tmp_path)  # for its settings and port, not its processes
    live.run('release', capture_output=True)
    log = tmp_path / 'run.log'
    with open(log, 'wb') as output:
        run = subprocess.Popen(
            [sys.executable, 'manage.py', 'run', '--port', str(live.port)],
            cwd=ROOT,
            env=live.environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: answers_healthz(live.url, run, log), 'manage.py run')

        assert listening_addresses(live.port) == {'127.0.0.1'}
        assert not answers('[::1]', live.port)
        assert not answers(other_address(), live.port)
    finally:
        run.terminate()
        run.wait(timeout=30)
