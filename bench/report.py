"""The figures of a run as Markdown: the targets, a table per measure, a chart."""

import operator
import re
from pathlib import Path

from . import storm
from .markdown import cell, table
from .servers import ASYNC_MODES

README = Path(__file__).resolve().parent.parent / 'README.md'
README_MARKERS = ('<!-- bench:start -->', '<!-- bench:end -->')
CAPACITY_TARGET = 5000
# A post in general (every client) costs at least this many times one in the
# smallest channel: what a cost that grows with the channel's members, not
# with every client connected, gives with the channels of bench/channels.py.
CHANNELS_COST_RATIO = 4
# A Standard-1X dyno's memory: the capacity search's limit.
CAPACITY_MIB = 512


def _normalized(records):
    """Records of runs before async modes and client kinds: eventlet, browser-like clients."""
    for record in records:
        if record.get('bench') == 'machine':
            yield record
            continue
        record = {'async_mode': 'eventlet', **record}
        if record.get('bench') in ('fanout', 'capacity'):
            record.setdefault('compression', True)
        yield record


def _modes(records):
    """The async modes a run measured, eventlet first."""
    measured = {record['async_mode'] for record in records if 'async_mode' in record}
    return [mode for mode in ASYNC_MODES if mode in measured] + sorted(measured - set(ASYNC_MODES))


def _find(records, **match):
    for record in records:
        if all(record.get(key) == value for key, value in match.items()):
            return record
    return {}


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


def _capacity(what, steps):
    """A target row: the largest C of the capacity search that passed, at least ``CAPACITY_TARGET``.

    "≥ C" when no step failed (the steps ran out, or the machine's limits
    stopped the search): the web process may hold more.
    """
    if not steps:
        return what, 'not measured', '–'
    passed = [step['clients'] for step in steps if step.get('passed')]
    best = max(passed, default=0)
    failed = any(step.get('passed') is False for step in steps)
    if not passed:
        measured = f'< {min(step["clients"] for step in steps)}'
    else:
        measured = f'{best}' if failed else f'≥ {best}'
    return what, measured, 'yes' if best >= CAPACITY_TARGET else 'NO'


def _targets(records):
    """Each target of issue 15: (what, measured, met), as a ratio to the floor of the same run.

    ``records`` are those of one async mode, the floor's as well. A target
    whose records the run lacks (the scaled ones with ``--skip-scaled``,
    C=1000 with other ``--clients``, the capacity with ``--no-capacity``) is
    "not measured". Fan-out latency and memory are those of browser-like
    clients (permessage-deflate); nothing lost, of every kind.
    """
    floor_read = _find(records, bench='read', app='floor')
    floor_write = _find(records, bench='write', app='floor')
    floor_fanout = _find(records, bench='fanout', app='floor', clients=1000, compression=True)
    floor_fanout_2000 = _find(records, bench='fanout', app='floor', clients=2000, compression=True)
    read = _find(records, bench='read', app='flack')
    write = _find(records, bench='write', app='flack', via='http')
    fanout = _find(records, bench='fanout', app='flack', clients=1000, compression=True)
    fanout_2000 = _find(records, bench='fanout', app='flack', clients=2000, compression=True)
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
        _nothing_lost(
            'embedded: fan-out C=1000 nothing lost', _all(records, bench='fanout', app='flack', clients=1000)
        ),
        _ratio('embedded: fan-out C=2000 p99 ≤ 1.2× floor', fanout_2000, floor_fanout_2000, 'p99_ms', 1.2),
        _nothing_lost(
            'embedded: fan-out C=2000, one web process, nothing lost',
            _all(records, bench='fanout', app='flack', clients=2000),
        ),
        _ratio('embedded: web memory at C=1000 ≤ 1.15× floor', fanout, floor_fanout, 'memory_mib', 1.15),
        _capacity(
            f'embedded: capacity, browser-like clients within {CAPACITY_MIB} MiB, nothing lost '
            f'≥ {CAPACITY_TARGET}',
            _all(records, bench='capacity', app='flack'),
        ),
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


def _channel_records(records):
    """The channels workload's records, one per channel posted in, by members (general last)."""
    measured = [r for r in records if r.get('bench') == 'channels' and r.get('channel') is not None]
    return sorted(measured, key=lambda r: (r['members'], r['channel'] == 'general'))


def _general(measured):
    return next((r for r in measured if r['channel'] == 'general'), None)


def _linear_fit(measured):
    """Least squares of web CPU ms per post on members: (intercept in ms, ms per member, R²)."""
    xs = [r['members'] for r in measured]
    ys = [r['cpu_ms_per_post'] for r in measured]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
    intercept = mean_y - slope * mean_x
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    total = sum((y - mean_y) ** 2 for y in ys)
    return intercept, slope, 1 - residual / total if total else 0.0


def _channels_targets(records):
    """The channels workload's rows of the targets table: (what, measured, met), as ``_targets``."""
    what = [
        "channels: every message reaches exactly its channel's members, once",
        f'channels: CPU per post grows with members: general ≥ {CHANNELS_COST_RATIO}× the smallest channel',
    ]
    measured = _channel_records(records)
    if not measured:
        not_tried = _find(records, bench='channels', channel=None).get('reason')
        return [(row, not_tried or 'not measured', '–') for row in what]
    scale = f' (C={measured[0]["clients"]}, {measured[0]["channels"]} channels)'
    return [_channels_delivery_row(what[0] + scale, measured), _channels_cost_row(what[1] + scale, measured)]


def _channels_delivery_row(what, measured):
    """Nothing lost, duplicated, misdelivered or failed, every client connected throughout."""
    counts = {key: sum(r[key] for r in measured) for key in ('lost', 'duplicated', 'misdelivered')}
    counts['failed'] = sum(r['failed_posts'] for r in measured)
    everyone = all(r['connected'] == r['clients'] and not r['disconnected'] for r in measured)
    said = f'{sum(r["posts"] for r in measured)} posts: ' + ', '.join(
        f'{value} {key}' for key, value in counts.items()
    )
    if not everyone:
        said += '; not every client was connected throughout'
    return what, said, 'yes' if everyone and not any(counts.values()) else 'NO'


def _channels_cost_row(what, measured):
    """General's CPU per post over the smallest channel's, with the fit for the shape of the curve."""
    general, smallest = _general(measured), measured[0]
    if general is None or general is smallest or smallest['cpu_ms_per_post'] <= 0:
        return what, '–', 'NO'
    ratio = general['cpu_ms_per_post'] / smallest['cpu_ms_per_post']
    intercept, slope, r2 = _linear_fit(measured)
    return (
        what,
        f'{ratio:.1f}× ({smallest["members"]} members against {general["members"]}); '
        f'fit {intercept:.1f} ms + {1000 * slope:.0f} µs × members, R² {r2:.2f}',
        'yes' if ratio >= CHANNELS_COST_RATIO else 'NO',
    )


def _channels_row(mode, record, general):
    ratio = record['cpu_ms_per_post'] / general['cpu_ms_per_post'] if general else None
    return [
        mode,
        record['channel'],
        record['members'],
        record['posts'],
        record['cpu_ms_per_post'],
        cell(ratio, digits=2),
        cell(record['redis_cpu_ms_per_post'], digits=2),
        record['p50_ms'],
        record['p99_ms'],
        record['lost'],
        record['duplicated'],
        record['misdelivered'],
        record['failed_posts'],
    ]


CHANNELS_COLUMNS = [
    'async mode',
    'channel',
    'members',
    'posts',
    'web CPU ms/post',
    '× general',
    'Redis CPU ms/post',
    'p50 ms',
    'p99 ms',
    'lost',
    'duplicated',
    'misdelivered',
    'failed posts',
]


def _channels_heading(first):
    sizes = first['channel_sizes']
    return (
        f'**Channels**: {first["clients"]} browser-like clients, one per user, half on each of the '
        f'{first["web_processes"]} web processes of the scaled formation (PostgreSQL, Redis); each user in '
        f'general and {first["channels_per_user"]} of {first["channels"]} channels drawn with a Zipf-like '
        f'weighting ({sizes["smallest"]} to {sizes["largest"]} members, median {sizes["median"]:g}). In '
        f'{first["rounds"]} rounds, messages posted one at a time in each channel shown, through '
        '`POST /api/channels/<id>/messages` on the web processes in turn, the next once every member has '
        'the last. CPU: user and system time of both web processes (`/proc`) per post, less what they '
        'spend idle with the same clients connected (measured after the posts, for as long as they took); '
        "× general: over general's. Redis likewise. Latency: from the post to the delivery to its last "
        f'member{_slowest(first["posts"])}. Lost: a member without a message; duplicated: a message heard '
        'again; misdelivered: heard by a client that is not a member'
    )


def _slowest(posts):
    # The rank of p99 (bench/load.mjs: the ceiling of 0.99 n) is the last one up to 100 samples.
    return f' (of {posts} posts, p99 is the slowest)' if posts <= 100 else ''


def _channels_fit(mode, measured):
    """The line under the table: the fit of the curve, the idle baseline, the connecting."""
    intercept, slope, r2 = _linear_fit(measured)
    first = measured[0]
    return (
        f'{mode}: web CPU ms per post ≈ {intercept:.2f} + {1000 * slope:.1f} µs × members (least squares, '
        f'R² {r2:.3f}). Idle: {first["idle_web_cpu_ms_per_s"]} ms of CPU a second for the two web processes '
        f'with every client connected ({first["idle_seconds"]:g} s). Connecting the clients took '
        f'{first["connect_s"]:g} s: each one coming online is a User event to every client connected, '
        f'{first["user_events_while_connecting"]} heard'
    )


def _channels_section(records, modes):
    """The channels workload: every channel posted in, under each mode, and the fit of each."""
    by_mode = [(mode, _channel_records(_all(records, async_mode=mode))) for mode in modes]
    by_mode = [(mode, measured) for mode, measured in by_mode if measured]
    if not by_mode:
        return ''
    rows = [
        _channels_row(mode, record, _general(measured)) for mode, measured in by_mode for record in measured
    ]
    fits = '\n\n'.join(_channels_fit(mode, measured) for mode, measured in by_mode)
    return f'{_channels_heading(by_mode[0][1][0])}\n\n{table(CHANNELS_COLUMNS, rows)}\n\n{fits}'


def _channels_chart(records, mode):
    """Web CPU per post by members: measured as bars, the least-squares line over them."""
    measured = _channel_records(records)
    if len(measured) < 2:
        return ''
    intercept, slope, _ = _linear_fit(measured)
    members = [r['members'] for r in measured]
    top = max(r['cpu_ms_per_post'] for r in measured)
    return '\n'.join(
        [
            '```mermaid',
            'xychart-beta',
            f'    title "Channels, {mode}: web CPU ms per post by members (bars), least squares (line)"',
            f'    x-axis "members (not to scale)" [{", ".join(map(str, members))}]',
            f'    y-axis "CPU ms per post" 0 --> {int(top * 1.1) + 1}',
            f'    bar [{", ".join(cell(r["cpu_ms_per_post"]) for r in measured)}]',
            f'    line [{", ".join(cell(intercept + slope * count) for count in members)}]',
            '```',
        ]
    )


def _app(record):
    processes = record.get('web_processes')
    return record['app'] + (f' ({processes} web)' if processes else '')


def _through(record):
    return {'http': 'POST /api/messages', 'socketio': 'Socket.IO event'}.get(record.get('via'), '–')


def _kind(record):
    """The clients: browser-like (offering permessage-deflate) or uncompressed,
    and how many the server agreed to deflate with if not all of them."""
    if not record.get('compression', True):
        return 'uncompressed'
    negotiated, connected = record.get('deflate_negotiated'), record.get('connected')
    if negotiated is not None and connected is not None and negotiated < connected:
        return f'permessage-deflate (agreed by {negotiated})'
    return 'permessage-deflate'


def _per_client_kib(record):
    """(memory with C clients − idle) / C, in KiB."""
    memory, idle, clients = record.get('memory_mib'), record.get('memory_idle_mib'), record.get('connected')
    if memory is None or idle is None or not clients:
        return None
    return round((memory - idle) * 1024 / clients, 1)


def _capacity_result(record):
    if record.get('passed'):
        return 'passed'
    return record.get('reason') or 'failed'


# Per measure: its record kind, its heading, (column, record key or
# function), and the key a record must have to be shown (None: any).
SECTIONS = [
    (
        'read',
        '**Read**: `wrk -t2 -c50 -d10s` on `GET /api/messages` (200 messages), Bearer token',
        [
            ('app', _app),
            ('async mode', 'async_mode'),
            ('requests/s', 'requests_per_second'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('errors', 'errors'),
        ],
        None,
    ),
    (
        'fanout',
        '**Fan-out**: C websocket clients; 20 messages posted one at a time, five rounds, the round with '
        'the median p99 shown; latency from post to each delivery; lost and duplicated over all rounds. '
        'Clients: browser-like, offering `permessage-deflate; client_max_window_bits` as Chromium does, '
        'or uncompressed, offering nothing, as a typical Python client. Flack answers the offer with its '
        'default, `WEBSOCKET_COMPRESSION=small` (a 2 KiB window), the floor with the offer as made (32 KiB); '
        'wire bytes/msg: what a client read per message delivered to it, pings included',
        [
            ('app', _app),
            ('async mode', 'async_mode'),
            ('clients', _kind),
            ('C', 'clients'),
            ('connected', 'connected'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('max ms', 'max_ms'),
            ('lost', 'lost'),
            ('duplicated', 'duplicated'),
            ('wire bytes/msg', 'wire_bytes_per_message'),
        ],
        None,
    ),
    (
        'fanout',
        '**Memory per client**: memory of the web process (gunicorn master and worker) as the dyno '
        'counts it, each page once (the sum of their PSS), started afresh, idle and with C clients '
        'connected; per client, (with C clients − idle) / C',
        [
            ('app', _app),
            ('async mode', 'async_mode'),
            ('clients', _kind),
            ('C', 'clients'),
            ('idle MiB', 'memory_idle_mib'),
            ('with C clients MiB', 'memory_mib'),
            ('KiB per client', _per_client_kib),
        ],
        'memory_mib',
    ),
    (
        'capacity',
        f'**Capacity**: browser-like clients on one embedded web process, started afresh at each step, '
        f'the fan-out above at each (stopped at the first message lost); a step passes with every client '
        f'connected, nothing lost and at most {CAPACITY_MIB} MiB (as in Memory per client), connected and '
        'after the rounds. '
        'The search stops at the first step that fails',
        [
            ('app', _app),
            ('async mode', 'async_mode'),
            ('C', 'clients'),
            ('connected', 'connected'),
            ('idle MiB', 'memory_idle_mib'),
            ('with C clients MiB', 'memory_mib'),
            ('after rounds MiB', 'memory_after_mib'),
            ('KiB per client', _per_client_kib),
            ('p99 ms', 'p99_ms'),
            ('lost', 'lost'),
            ('result', _capacity_result),
        ],
        None,
    ),
    (
        'write',
        '**Write**: 20 closed-loop posters for 10 s, connected to and posting through the first web '
        'process; latency from post to the event at one listening client, on the last web process '
        '(floor-redis: the floor with its broadcasts through Redis)',
        [
            ('app', _app),
            ('async mode', 'async_mode'),
            ('posted through', _through),
            ('listener', 'listener'),
            ('posts/s', 'posts_per_second'),
            ('p50 ms', 'p50_ms'),
            ('p99 ms', 'p99_ms'),
            ('max ms', 'max_ms'),
            ('lost', 'lost'),
            ('failed posts', 'failed_posts'),
        ],
        None,
    ),
]


def _section(records, bench, heading, columns, needs):
    rows = [
        [get(record) if callable(get) else record.get(get) for _, get in columns]
        for record in records
        if record.get('bench') == bench and (needs is None or record.get(needs) is not None)
    ]
    # A run that did not measure this (memory when scaled out) has no table.
    if not rows:
        return ''
    return f'{heading}\n\n{table([name for name, _ in columns], rows)}'


def _targets_side_by_side(records, modes):
    """The targets of each async mode, each against the floor run under the same mode."""
    by_mode = [
        _targets(mode_records) + storm.targets(mode_records) + _channels_targets(mode_records)
        for mode_records in (_all(records, async_mode=mode) for mode in modes)
    ]
    header = ['target'] + [f'{mode} {column}' for mode in modes for column in ('measured', 'met')]
    rows = [
        [rows[0][0], *(value for mode_rows in rows for value in mode_rows[1:])]
        for rows in zip(*by_mode, strict=True)
    ]
    return table(header, rows)


def render(records):
    records = list(_normalized(records))
    modes = _modes(records) or ['eventlet']
    machine = _find(records, bench='machine')
    sections = [
        f'Run {machine.get("run")} on {machine.get("cpu")}, {machine.get("cores")} cores, '
        f'{machine.get("memory_gib")} GiB, {machine.get("os")}, Python {machine.get("python")}; '
        'load generators on the same machine.',
        '**Targets** (issue 15), each a ratio to the floor of the same run under the same async mode '
        "(`ASYNC_MODE`, gunicorn's worker class), one pair of columns per mode. *embedded*: Flack on "
        'the embedded default, against the floor; fan-out latency, memory and capacity with browser-like '
        'clients (permessage-deflate), nothing lost with both kinds. *scaled*: Flack with PostgreSQL, '
        'Redis and two web processes; its reads against the floor, its writes (posted through one '
        'process, heard on the other) against the floor with a Redis message queue, two processes in '
        'the same shape\n\n' + _targets_side_by_side(records, modes),
        *(_section(records, *section) for section in SECTIONS),
        storm.render(records),
        _channels_section(records, modes),
        *(_chart(_all(records, async_mode=mode), mode) for mode in modes),
        *(_channels_chart(_all(records, async_mode=mode), mode) for mode in modes),
    ]
    return '\n\n'.join(section for section in sections if section) + '\n'


def _chart(records, mode):
    """Fan-out p99 by client count, browser-like clients: the floor as bars, Flack as a line."""
    fanout = [
        r
        for r in records
        if r.get('bench') == 'fanout' and r['app'] in ('floor', 'flack') and r.get('compression', True)
    ]
    counts = sorted({r['clients'] for r in fanout})
    if not counts:
        return ''

    def series(app):
        return ', '.join(cell(_find(fanout, app=app, clients=count).get('p99_ms') or 0.0) for count in counts)

    top = max(r.get('p99_ms') or 0 for r in fanout)
    return '\n'.join(
        [
            '```mermaid',
            'xychart-beta',
            f'    title "Fan-out p99 (ms) by clients, {mode}: floor = bars, Flack = line"',
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
