"""The measurements: wrk for reads, bench/load.mjs for Socket.IO traffic."""

import json
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
READ_SECONDS = 10
FANOUT_MESSAGES = 20
FANOUT_ROUNDS = 5
WRITE_POSTERS = 20
WRITE_SECONDS = 10
WRK_UNITS = {'us': 0.001, 'ms': 1.0, 's': 1000.0}


def read(urls, token, threads=2, connections=50):
    """``wrk`` on GET /api/messages, the connections split across ``urls``.

    One wrk process per URL, all at once; requests/s add up, latencies are
    those of the first URL (each process is loaded alike).
    """
    runs = [
        subprocess.Popen(
            [
                'wrk',
                f'-t{max(1, threads // len(urls))}',
                f'-c{connections // len(urls)}',
                f'-d{READ_SECONDS}s',
                '--latency',
                '-H',
                f'Authorization: Bearer {token}',
                f'{url}/api/messages',
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    reports = [_parse_wrk(run.communicate()[0]) for run in runs]
    return {
        'requests_per_second': round(sum(report['requests_per_second'] for report in reports), 1),
        'p50_ms': reports[0]['p50_ms'],
        'p99_ms': reports[0]['p99_ms'],
        'errors': sum(report['errors'] for report in reports),
    }


def _parse_wrk(output):
    def latency(percent):
        value, unit = re.search(rf'^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$', output, re.MULTILINE).groups()
        return round(float(value) * WRK_UNITS[unit], 2)

    errors = re.search(r'Non-2xx or 3xx responses: (\d+)', output)
    socket_errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', output)
    return {
        'requests_per_second': float(re.search(r'Requests/sec:\s+([\d.]+)', output).group(1)),
        'p50_ms': latency(50),
        'p99_ms': latency(99),
        'errors': (int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def start_node(script, options):
    """Start ``bench/<script>`` in Node.js with its ``options`` as one JSON argument,
    talking over its stdin and stdout (text lines)."""
    return subprocess.Popen(
        ['node', str(HERE / script), json.dumps(options)],
        cwd=HERE.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def socketio_load(mode, app, urls, tokens, run_id, while_connected=None, after_result=None, **options):
    """Run bench/load.mjs; ``while_connected()`` is called once all clients are in.

    ``app`` is the kind of app, ``'floor'`` or ``'flack'`` (how to post).
    Posts go to the first of ``urls``; the write's listener is on the last.
    ``after_result()``, if given, is called once the figures are in, the
    clients still connected. Returns the figures load.mjs printed, with what
    the two callbacks returned.
    """
    options = dict(
        options,
        hold=after_result is not None,
        mode=mode,
        app=app,
        urls=urls,
        post_url=urls[0],
        listen_url=urls[-1],
        tokens=tokens,
        run_id=run_id,
    )
    load = start_node('load.mjs', options)
    connected = json.loads(load.stdout.readline() or '{}')
    if connected.get('event') != 'connected':
        load.kill()
        raise RuntimeError(f'load.mjs did not connect its clients ({mode}, {app})')
    extra = while_connected() if while_connected else {}
    load.stdin.write('go\n')
    load.stdin.flush()
    result = json.loads(load.stdout.readline())
    if after_result is not None:
        extra.update(after_result())
        load.stdin.write('close\n')
        load.stdin.flush()
    load.stdin.close()
    load.wait(timeout=120)
    result.pop('event')
    return dict(result, **extra)


def fanout(app, urls, tokens, clients, run_id, memory=None, compression=True, stop_on_loss=False):
    """C clients listening, 20 messages posted one at a time, five rounds.

    ``compression``: the clients offer permessage-deflate as browsers do
    (True), or connect without it as a typical Python client (False).
    ``memory()``, if given, is read once every client is connected
    (``memory_mib``) and again after the rounds, before they leave
    (``memory_after_mib``). With ``stop_on_loss``, the rounds stop at the first
    message some client did not get (the capacity search).
    """
    figures = socketio_load(
        'fanout',
        app,
        urls,
        tokens,
        run_id,
        (lambda: {'memory_mib': memory()}) if memory else None,
        (lambda: {'memory_after_mib': memory()}) if memory else None,
        clients=clients,
        messages=FANOUT_MESSAGES,
        rounds=FANOUT_ROUNDS,
        compression=compression,
        stop_on_loss=stop_on_loss,
    )
    return dict(figures, compression=compression)


def write(app, urls, tokens, run_id, via='http'):
    """20 closed-loop posters for 10 s, one listening client.

    The posters connect to and post through the first of ``urls``, the
    listener connects to the last: with two web processes, each delivery
    it times has crossed the message queue from one process to the other.
    Flack's posters use ``POST /api/messages``, or with ``via='socketio'``
    the ``post_message`` event; the floor's always use its event.
    """
    figures = socketio_load(
        'write', app, urls, tokens, run_id, posters=WRITE_POSTERS, seconds=WRITE_SECONDS, via=via
    )
    return dict(figures, listener='same process' if len(set(urls)) == 1 else 'other process')
