"""The soak's invariants, checked once the load has stopped."""

import json
import re
import time
from collections import Counter

from tests.live import wait_for

from .load import NO_ANSWER
from .run import POOLS

SETTLE_SECONDS = 5  # for connections closed at the end of the load to be gone
PREVIEW_PATIENCE = 120  # the clock requeues a lost preview task within seconds
MEMORY_TOLERANCE = 0.10
MEMORY_WARMUP = 60
MEMORY_SPAN = 120
ACCESS = re.compile(r'time=(\S+) .*?event=request method=\w+ path="([^"]*)" status=(\d+)')


def summarize(soak, began, ended, before):
    """Every figure and invariant of the run, as one dict."""
    soak._await_healthy()
    pending = _await_previews(soak)
    wait_for(lambda: soak._clients_connected() >= soak.clients, 'the websocket clients to be back', 60)
    time.sleep(3)  # their last resyncs
    stored = _stored_messages(soak)
    (soak.workdir / 'stored.json').write_text(json.dumps([[m[0], m[3]] for m in stored]))
    soak._tell({'check': str(soak.workdir / 'stored.json')})
    delivery = soak._hear('check')
    time.sleep(SETTLE_SECONDS)
    after = (*soak.connections(), soak.connections_by_process())

    windows = soak.windows
    posts = soak.load.record.of('post', 'socket post')
    reads = soak.load.record.of('read')
    summary = {
        'run': soak.run_id,
        'minutes': soak.minutes,
        'seed': soak.seed,
        'clients': soak.clients,
        'seconds': round(ended - began),
        'faults': dict(Counter(w[0] for w in windows)),
        'fault_log': [
            {'kind': k, 'at_s': round(s - began, 1), 'window_s': round(e - s, 1), 'detail': d}
            for k, s, e, d in windows
        ],
        'previews_pending_at_end': pending,
    }
    summary.update(_posts(posts, stored, soak.load.links))
    summary.update(_statuses(posts + reads, windows))
    summary.update(_access_logs(soak, windows))
    summary['delivery'] = delivery
    summary['lost_messages'] = _placed(delivery['missing_ids'], stored, windows, began)
    summary['flood'] = {'floods': soak.load.record.floods, 'cut_off': soak.load.record.flood_cut_offs}
    summary['memory'] = _memory(soak)
    budget_pg = sum(POOLS[name.split('.')[0]][0] for name in after[3])
    summary['connections'] = {
        'postgresql_before': before[0],
        'postgresql_after': after[0],
        'postgresql_budget': budget_pg,
        'redis_before': before[1],
        'redis_after': after[1],
        'redis_before_by_command': before[2],
        'redis_after_by_command': after[2],
        'by_process_before': before[3],
        'by_process_after': after[3],
        'over_baseline': _over_baseline(before[3], after[3]),
    }
    summary['tracebacks'] = _tracebacks(soak)
    summary['invariants'] = _invariants(summary)
    summary['passed'] = all(ok is not False for ok in summary['invariants'].values())
    return summary


def _await_previews(soak):
    """Messages still waiting for their previews after ``PREVIEW_PATIENCE`` s (0 when all arrived)."""
    deadline = time.monotonic() + PREVIEW_PATIENCE
    while True:
        (pending,) = _query(soak, 'SELECT count(*) FROM messages WHERE previews_pending')[0]
        if pending == 0 or time.monotonic() > deadline:
            return pending
        time.sleep(1)


def _query(soak, statement):
    import psycopg2

    connection = psycopg2.connect(
        host='127.0.0.1',
        port=soak.database.port,
        user='postgres',
        dbname=soak.database.DATABASE,
        connect_timeout=5,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall()
    finally:
        connection.close()


def _stored_messages(soak):
    return _query(soak, 'SELECT id, source, html, created_at FROM messages ORDER BY id')


def _posts(posts, stored, links):
    """Every post answered 201 stored exactly once; refused ones not at all; previews once each."""
    by_source = {}
    for id, source, html, _ in stored:
        by_source.setdefault(source, []).append((id, html))
    accepted = [p for p in posts if p[2] == 201]
    not_once = [p[3] for p in accepted if [i for i, _ in by_source.get(p[3], [])] != [p[4]]]
    refused = [p for p in posts if p[2] not in (201, NO_ANSWER)]
    half_written = [p[3] for p in refused if p[3] in by_source]
    unanswered = [p for p in posts if p[2] == NO_ANSWER]
    previews = Counter()
    for source, title in links.items():
        for _, html in by_source.get(source, []):
            previews[min(html.count(f'>{title}</a>'), 2)] += 1
    return {
        'posts': len(posts),
        'posts_by_status': dict(Counter(str(p[2]) for p in posts)),
        'posts_created': len(accepted),
        'posts_not_stored_once': len(not_once),
        'posts_not_stored_once_examples': not_once[:10],
        'refused_but_stored': len(half_written),
        'unanswered_posts_stored': sum(1 for p in unanswered if p[3] in by_source),
        'messages_stored': len(stored),
        'previews': {
            'expected': sum(previews.values()),
            'once': previews[1],
            'missing': previews[0],
            'twice': previews[2],
        },
    }


def _placed(ids, stored, windows, began):
    """Where the messages some client lacks were created: seconds into the run, and the fault window then."""
    created = {m[0]: m[3] for m in stored}
    placed = []
    for id in ids:
        moment = created[id]
        faults = [kind for kind, start, end, _ in windows if start - 1 <= moment <= end]
        placed.append({'id': id, 'at_s': round(moment - began), 'fault': ','.join(faults) or None})
    return placed


def _inside(moment, windows, slack=1.0):
    return any(start - slack <= moment <= end + slack for _, start, end, _ in windows)


def _statuses(answers, windows):
    """The clients' view: answers by status, inside and outside the fault windows."""
    outside = [a for a in answers if not _inside(a[0], windows)]
    return {
        'answers': len(answers),
        'answers_by_status': dict(Counter(str(a[2]) for a in answers)),
        'client_5xx_outside_windows': sum(1 for a in outside if isinstance(a[2], int) and a[2] >= 500),
        'client_non_503_5xx': sum(
            1 for a in answers if isinstance(a[2], int) and a[2] >= 500 and a[2] != 503
        ),
        'client_unanswered_outside_windows': sum(1 for a in outside if a[2] == NO_ANSWER),
    }


def _access_logs(soak, windows):
    """The web processes' view: every request they logged, by status and time."""
    statuses, outside, non_503 = Counter(), [], []
    for process in soak.formation.processes:
        if not process.name.startswith('web.'):
            continue
        for stamp, path, status in ACCESS.findall(process.output().decode(errors='replace')):
            statuses[status] += 1
            if status.startswith('5'):
                moment = time.mktime(time.strptime(stamp, '%Y-%m-%dT%H:%M:%S'))
                if status != '503':
                    non_503.append(f'{process.name} {stamp} {path} {status}')
                # The log's time has whole seconds, written when the answer is sent.
                elif not _inside(moment, windows, slack=2.0):
                    outside.append(f'{process.name} {stamp} {path} {status}')
    return {
        'logged_requests': sum(statuses.values()),
        'logged_by_status': dict(statuses),
        'logged_5xx_outside_windows': len(outside) + len(non_503),
        'logged_5xx_examples': (non_503 + outside)[:10],
    }


def _memory(soak):
    """Per process alive at the end: RSS after its warm-up and at the end, checked if it lived long enough.

    A process is checked when it ran ``MEMORY_WARMUP`` s, then at least
    ``MEMORY_SPAN`` s more without being restarted: over less, the figures
    show a process still filling its caches, not whether it leaks. A web
    process's memory follows its websocket clients (some 0.3 MiB each), which
    move to it when another is killed, and CPython keeps what the most
    clients took for reuse rather than give it back: a web process is
    compared from the most connections it served after warm-up on, with its
    first sample then that served about as many connections as at the end.
    """
    figures = {}
    for process in soak._running():
        samples = soak.memory.get(process.name, [])
        warm = soak.started[process.name] + MEMORY_WARMUP
        settled = [s for s in samples if s[0] >= warm]
        if settled and settled[-1][2] is not None:
            peak = max(s[2] for s in settled)
            settled = settled[[s[2] for s in settled].index(peak) :]
            clients = settled[-1][2]
            settled = [s for s in settled[:-1] if abs(s[2] - clients) <= max(10, 0.1 * clients)] + settled[
                -1:
            ]
        series = [[round(s[0] - soak.started[process.name]), s[1], s[2]] for s in samples[::6]]
        if len(settled) < 2 or settled[-1][0] - settled[0][0] < MEMORY_SPAN:
            figures[process.name] = {
                'checked': False,
                'mib_end': samples[-1][1] if samples else None,
                'series': series,
            }
            continue
        first, last = settled[0][1], settled[-1][1]
        figures[process.name] = {
            'checked': True,
            'mib_after_warmup': first,
            'mib_end': last,
            'connections_after_warmup': settled[0][2],
            'connections_end': settled[-1][2],
            'change': round((last - first) / first, 3),
            'compared_over_s': round(settled[-1][0] - settled[0][0]),
            'series': series,
        }
    return figures


def _over_baseline(before, after):
    """Processes holding more connections at the end than a process of their kind may hold.

    The bound of a kind (web, worker, clock) is the most any process of that
    kind held at the baseline, or its pools' size (``POOLS``) if larger:
    pools fill as they are used (a worker's second pool process gets its
    connections at the first two tasks run at once), and a process started
    after the baseline, replacing one killed, has had other work.
    """
    most = dict(POOLS)
    for name, held in before.items():
        kind = name.split('.')[0]
        most[kind] = tuple(max(pair) for pair in zip(most[kind], held, strict=True))
    over = {}
    for name, held in after.items():
        bound = before.get(name, most.get(name.split('.')[0], (0, 0)))
        if held[0] > bound[0] or held[1] > bound[1]:
            over[name] = {'postgresql': [bound[0], held[0]], 'redis': [bound[1], held[1]]}
    return over


def _tracebacks(soak):
    """Tracebacks and ERROR lines in the formation's logs, by process."""
    found = {}
    for process in soak.formation.processes:
        text = process.output().decode(errors='replace')
        lines = [line for line in text.splitlines() if 'Traceback' in line or 'exception=' in line]
        errors = [line for line in text.splitlines() if 'level=ERROR' in line or 'level=CRITICAL' in line]
        if lines or errors:
            found[process.name] = {
                'tracebacks': len(lines),
                'errors': len(errors),
                # The stack's file names are left out: no machine path goes into the results.
                'first': re.sub(r'(?:/[\w.+-]+)+/', '', (lines or errors)[0])[:400],
            }
    return found


def _invariants(s):
    memory = [m for m in s['memory'].values() if m['checked']]
    connections = s['connections']
    return {
        'every 201 stored once': s['posts_not_stored_once'] == 0 and s['refused_but_stored'] == 0,
        'every client has every message': s['delivery']['lost'] == 0 and s['delivery']['duplicated'] == 0,
        'no 5xx but 503 in a fault window': s['client_5xx_outside_windows'] == 0
        and s['client_non_503_5xx'] == 0
        and s['logged_5xx_outside_windows'] == 0,
        'every preview once': s['previews']['missing'] == 0 and s['previews']['twice'] == 0,
        # None: no process lived long enough to tell (the short run).
        'memory flat': all(abs(m['change']) <= MEMORY_TOLERANCE for m in memory) if memory else None,
        'connections back to baseline': connections['postgresql_after'] <= connections['postgresql_budget']
        and not connections['over_baseline'],
        'no traceback': not any(found['tracebacks'] for found in s['tracebacks'].values()),
    }
