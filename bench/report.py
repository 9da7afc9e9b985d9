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


def _lost(record):
    return record['lost'] + record['duplicated'] if record else None


def _targets(records):
    """Each target of issue 7: (what, measured, met)."""
    floor = {bench: _find(records, bench=bench, app='floor') for bench in ('read', 'write')}
    flack = {
        'read': _find(records, bench='read', app='flack'),
        'write': _find(records, bench='write', app='flack', via='http'),
    }
    floor['fanout'] = _find(records, bench='fanout', app='floor', clients=1000)
    flack['fanout'] = _find(records, bench='fanout', app='flack', clients=1000)
    rows = []

    def ratio(what, bench, key, compare, bound, numerator=flack, denominator=floor):
        value, reference = numerator[bench].get(key), denominator[bench].get(key)
        if value is None or not reference:
            rows.append((what, '–', 'NO'))
            return
        rows.append((what, f'{value / reference:.2f}×', 'yes' if compare(value / reference, bound) else 'NO'))

    def nothing_lost(what, lost):
        rows.append((what, lost, 'yes' if lost == 0 else 'NO'))

    ratio('read requests/s ≥ 0.8× floor', 'read', 'requests_per_second', operator.ge, 0.8)
    ratio('read p99 ≤ 1.5× floor', 'read', 'p99_ms', operator.le, 1.5)
    ratio('fan-out C=1000 p99 ≤ 1.2× floor', 'fanout', 'p99_ms', operator.le, 1.2)
    nothing_lost('fan-out C=1000 nothing lost', _lost(flack['fanout']))
    nothing_lost(
        'fan-out C=2000, one web process, nothing lost',
        _lost(_find(records, bench='fanout', app='flack', clients=2000)),
    )
    ratio('web memory at C=1000 ≤ 1.15× floor', 'fanout', 'rss_mib', operator.le, 1.15)
    ratio('write posts/s ≥ 0.5× floor', 'write', 'posts_per_second', operator.ge, 0.5)
    ratio('write p99 ≤ 2× floor', 'write', 'p99_ms', operator.le, 2)
    scaled = [r for r in records if r.get('bench') == 'fanout' and r.get('app') == 'flack-scaled']
    if scaled:
        nothing_lost('scaled: nothing lost across processes', sum(_lost(record) for record in scaled))
        one = {'read': _find(records, bench='read', app='flack-scaled', web_processes=1)}
        two = {'read': _find(records, bench='read', app='flack-scaled', web_processes=2)}
        ratio(
            'scaled: read requests/s, 2 web ≥ 1 web', 'read', 'requests_per_second', operator.ge, 1, two, one
        )
    return rows


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
        '**Write**: 20 closed-loop posters for 10 s; latency from post to the event at a listening client',
        [
            ('app', _app),
            ('posted through', _through),
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
        '**Targets** (Flack on the embedded default against the floor, same run)\n\n'
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
