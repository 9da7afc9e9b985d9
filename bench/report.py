"""The figures of a run as Markdown: the targets, a table per measure, a chart."""

import operator
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / 'README.md'
README_MARKERS = ('<!-- bench:start -->', '<!-- bench:end -->')


def _find(records, **match):
    for record in records:
        if all(record.get(key) == value for key, value in match.items()):
            return record
    return {}


def _cell(value, digits=1):
    if value is None:
        return '–'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def _table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(_cell(value) for value in row) + ' |' for row in rows]
    return '\n'.join(lines)


def _all(records, **match):
    return [record for record in records if all(record.get(key) == value for key, value in match.items())]


def _ratio(what, record, reference, key, bound):
    """A target row: ``record[key]`` over ``reference[key]``, at least ``bound``
    if ``what`` says ≥, at most if it says ≤."""
    if not record or not reference:
        return what, 'not measured', '–'
    value, base = record.get(key), reference.get(key)
    if value is None or not base:
        return what, '–', 'NO'
    compare = operator.ge if '≥' in what else operator.le
    return what, f'{value / base:.2f}×', 'yes' if compare(value / base, bound) else 'NO'


def _nothing_lost(what, measured):
    """A target row: no delivery lost or duplicated in any of the ``measured`` records."""
    if not measured:
        return what, 'not measured', '–'
    lost = sum(record['lost'] + record['duplicated'] for record in measured)
    return what, lost, 'yes' if lost == 0 else 'NO'


def _targets(records):
    """Each target of issue 15: (what, measured, met), as a ratio to the floor of the same run.

    A target whose records the run lacks (the scaled ones with
    ``--skip-scaled``, C=1000 with other ``--clients``) is "not measured".
    """
    floor_read = _find(records, bench='read', app='floor')
    floor_write = _find(records, bench='write', app='floor')
    floor_fanout = _find(records, bench='fanout', app='floor', clients=1000)
    read = _find(records, bench='read', app='flack')
    write = _find(records, bench='write', app='flack', via='http')
    fanout = _find(records, bench='fanout', app='flack', clients=1000)
    scaled_read = _find(records, bench='read', app='flack-scaled', web_processes=1)
    scaled_read_all = _find(records, bench='read', app='flack-scaled', web_processes=2)
    scaled_write = _find(records, bench='write', app='flack-scaled', via='http')
    # The floor in the scaled write's shape: as many processes, one Redis.
    floor_redis = _find(
        records, bench='write', app='floor-redis', web_processes=scaled_write.get('web_processes')
    )
    rps, posts = 'requests_per_second', 'posts_per_second'
    return [
        _ratio('embedded: read requests/s ≥ 0.8× floor', read, floor_read, rps, 0.8),
        _ratio('embedded: read p99 ≤ 1.5× floor', read, floor_read, 'p99_ms', 1.5),
        _ratio('embedded: write posts/s ≥ 0.8× floor', write, floor_write, posts, 0.8),
        _ratio('embedded: write delivery p99 ≤ 2× floor', write, floor_write, 'p99_ms', 2),
        _ratio('embedded: fan-out C=1000 p99 ≤ 1.2× floor', fanout, floor_fanout, 'p99_ms', 1.2),
        _nothing_lost('embedded: fan-out C=1000 nothing lost', [fanout] if fanout else []),
        _nothing_lost(
            'embedded: fan-out C=2000, one web process, nothing lost',
            _all(records, bench='fanout', app='flack', clients=2000),
        ),
        _ratio('embedded: web memory at C=1000 ≤ 1.15× floor', fanout, floor_fanout, 'rss_mib', 1.15),
        _ratio('scaled: read requests/s, one web process ≥ 0.8× floor', scaled_read, floor_read, rps, 0.8),
        _ratio('scaled: read p99, one web process ≤ 1.5× floor', scaled_read, floor_read, 'p99_ms', 1.5),
        _ratio(
            'scaled: read requests/s, two web processes ≥ 1.6× one', scaled_read_all, scaled_read, rps, 1.6
        ),
        _ratio('scaled: write posts/s ≥ 0.8× floor with Redis', scaled_write, floor_redis, posts, 0.8),
        _ratio('scaled: write delivery p99 ≤ 2× floor with Redis', scaled_write, floor_redis, 'p99_ms', 2),
        _nothing_lost(
            'scaled: fan-out nothing lost across processes', _all(records, bench='fanout', app='flack-scaled')
        ),
    ]


def _app(record):
    processes = record.get('web_processes')
    return record['app'] + (f' ({processes} web)' if processes else '')


def _through(record):
    return {'http': 'POST /api/messages', 'socketio': 'Socket.IO event'}.get(record.get('via'), '–')


# Per measure: its heading, then (column, record key or function).
SECTIONS = [
    (
        'read',
        '**Read**: `wrk -t2 -c50 -d10s` on `GET /api/messages` (200 messages), Bearer token',
        [
            ('app', _app),
            ('requests/s', 'requests_per_second'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('errors', 'errors'),
        ],
    ),
    (
        'fanout',
        '**Fan-out**: C websocket clients; 20 messages posted one at a time, five rounds, the round with '
        'the median p99 shown; latency from post to each delivery; lost and duplicated over all rounds',
        [
            ('app', _app),
            ('C', 'clients'),
            ('connected', 'connected'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('max ms', 'max_ms'),
            ('lost', 'lost'),
            ('duplicated', 'duplicated'),
        ],
    ),
    (
        'fanout',
        '**Memory**: resident memory of the web process (gunicorn master and worker), started afresh, '
        'idle and with C clients connected',
        [('app', _app), ('C', 'clients'), ('idle MiB', 'rss_idle_mib'), ('with C clients MiB', 'rss_mib')],
    ),
    (
        'write',
        '**Write**: 20 closed-loop posters for 10 s, connected to and posting through the first web '
        'process; latency from post to the event at one listening client, on the last web process '
        '(floor-redis: the floor with its broadcasts through Redis)',
        [
            ('app', _app),
            ('posted through', _through),
            ('listener', 'listener'),
            ('posts/s', 'posts_per_second'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('max ms', 'max_ms'),
            ('lost', 'lost'),
            ('failed posts', 'failed_posts'),
        ],
    ),
]


def _section(records, bench, heading, columns):
    rows = [
        [get(record) if callable(get) else record.get(get) for _, get in columns]
        for record in records
        if record.get('bench') == bench
    ]
    # A run that did not measure this (memory when scaled out) has no row.
    rows = [row for row in rows if any(value is not None for value in row[2:])]
    return f'{heading}\n\n{_table([name for name, _ in columns], rows)}'


def render(records):
    machine = _find(records, bench='machine')
    sections = [
        f'Run {machine.get("run")} on {machine.get("cpu")}, {machine.get("cores")} cores, '
        f'{machine.get("memory_gib")} GiB, {machine.get("os")}, Python {machine.get("python")}; '
        'load generators on the same machine.',
        '**Targets** (issue 15), each a ratio to the floor of the same run. *embedded*: Flack on the '
        'embedded default, against the floor. *scaled*: Flack with PostgreSQL, Redis and two web '
        'processes; its reads against the floor, its writes (posted through one process, heard on the '
        'other) against the floor with a Redis message queue, two processes in the same shape\n\n'
        + _table(['target', 'measured', 'met'], _targets(records)),
        *(_section(records, *section) for section in SECTIONS),
        _chart(records),
    ]
    return '\n\n'.join(section for section in sections if section) + '\n'


def _chart(records):
    """Fan-out p99 by client count: the floor as bars, Flack as a line."""
    fanout = [r for r in records if r.get('bench') == 'fanout' and r['app'] in ('floor', 'flack')]
    counts = sorted({r['clients'] for r in fanout})
    if not counts:
        return ''

    def series(app):
        return ', '.join(
            _cell(_find(fanout, app=app, clients=count).get('p99_ms') or 0.0) for count in counts
        )

    top = max(r.get('p99_ms') or 0 for r in fanout)
    return '\n'.join(
        [
            '```mermaid',
            'xychart-beta',
            '    title "Fan-out p99 (ms) by clients: floor = bars, Flack = line"',
            f'    x-axis "clients" [{", ".join(map(str, counts))}]',
            f'    y-axis "p99 ms" 0 --> {int(top * 1.1) + 1}',
            f'    bar [{series("floor")}]',
            f'    line [{series("flack")}]',
            '```',
        ]
    )


def update_readme(markdown):
    """Replace the figures between the bench markers in README.md."""
    text = README.read_text()
    start, end = README_MARKERS
    pattern = re.compile(re.escape(start) + '.*?' + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f'README.md has no {start} ... {end} section')
    README.write_text(pattern.sub(lambda _: f'{start}\n{markdown}{end}', text))
