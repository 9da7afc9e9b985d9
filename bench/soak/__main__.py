"""``python -m bench.soak``: the soak run, its summary table and results; non-zero if an invariant fails."""

import argparse
import json
import platform
import shutil
import sys
from pathlib import Path

from .run import Soak

RESULTS = Path(__file__).resolve().parent.parent / 'results'


def arguments(argv=None):
    parser = argparse.ArgumentParser(prog='python -m bench.soak', description=__doc__)
    parser.add_argument('--minutes', type=float, default=30, help='length of the load (default 30)')
    parser.add_argument('--seed', type=int, default=7, help='seed of the fault schedule and the clients')
    parser.add_argument('--clients', type=int, default=300, help='websocket clients (default 300)')
    parser.add_argument(
        '--faults',
        choices=('random', 'fixed'),
        default='random',
        help='random: seeded times, each kind at least once; fixed: each kind once, evenly spaced (CI)',
    )
    parser.add_argument('--grace', type=float, default=15, help='seconds a fault window lasts after recovery')
    parser.add_argument('--results', type=Path, default=RESULTS, help='where soak-<run>.jsonl and .md go')
    return parser.parse_args(argv)


def table(summary):
    """The summary as Markdown."""
    s, c, d = summary, summary['connections'], summary['delivery']
    faults = ', '.join(f'{kind} {count}' for kind, count in sorted(s['faults'].items()))
    memory = '; '.join(
        f'{name} {m["mib_after_warmup"]} → {m["mib_end"]} MiB ({m["change"]:+.0%})'
        + (
            f', {m["connections_after_warmup"]} → {m["connections_end"]} connections'
            if m['connections_end']
            else ''
        )
        for name, m in s['memory'].items()
        if m['checked']
    )
    unchecked = ', '.join(f'{name} {m["mib_end"]} MiB' for name, m in s['memory'].items() if not m['checked'])
    rows = [
        ('run', f'{s["run"]}: {s["seconds"]} s, seed {s["seed"]}, {s["clients"]} websocket clients'),
        ('faults', f'{sum(s["faults"].values())} ({faults})'),
        ('posts', f'{s["posts"]} ({_statuses(s["posts_by_status"])}); {s["messages_stored"]} stored'),
        ('posts answered 201 not stored once', s['posts_not_stored_once']),
        ('posts refused but stored', s['refused_but_stored']),
        (
            'deliveries',
            f'{d["deliveries"]} to {d["connected"]} clients; {d["reconnects"]} reconnects, '
            f'{d["resyncs"]} resyncs ({d["resync_failures"]} failed)',
        ),
        ('lost', f'{d["lost"]} (of {d["expected"]} owed; {d.get("missing_distinct", 0)} messages)'),
        ('lost messages: s into the run, fault', _placed(s['lost_messages'])),
        ('duplicated', d['duplicated']),
        (
            'previews',
            f'{s["previews"]["once"]} of {s["previews"]["expected"]} once '
            f'({s["previews"]["missing"]} missing, {s["previews"]["twice"]} twice)',
        ),
        ('answers', f'{s["answers"]} ({_statuses(s["answers_by_status"])})'),
        (
            '5xx outside fault windows',
            f'{s["client_5xx_outside_windows"]} (clients), '
            f'{s["logged_5xx_outside_windows"]} (access logs); non-503 5xx: {s["client_non_503_5xx"]}',
        ),
        ('unanswered outside fault windows', s['client_unanswered_outside_windows']),
        ('flooder', f'{s["flood"]["cut_off"]} of {s["flood"]["floods"]} floods cut off'),
        (
            'memory (RSS, after warm-up → end)',
            '; '.join(
                filter(
                    None, [memory, unchecked and f'not checked (too short, or clients moved): {unchecked}']
                )
            ),
        ),
        (
            'PostgreSQL connections',
            f'{c["postgresql_before"]} → {c["postgresql_after"]} (budget {c["postgresql_budget"]})',
        ),
        ('Redis connections', f'{c["redis_before"]} → {c["redis_after"]}'),
        (
            'connections by process (PostgreSQL/Redis)',
            f'{_held(c["by_process_before"])} → {_held(c["by_process_after"])}',
        ),
        ('processes over their baseline', c['over_baseline'] or 'none'),
        (
            'tracebacks / ERROR lines',
            ', '.join(f'{name}: {t["tracebacks"]} / {t["errors"]}' for name, t in s['tracebacks'].items())
            or 'none',
        ),
    ]
    lines = ['| measure | figure |', '|---|---|'] + [f'| {k} | {v} |' for k, v in rows]
    lines += ['', '| invariant | |', '|---|---|']
    verdicts = {True: 'pass', False: '**FAIL**', None: 'not checked'}
    lines += [f'| {name} | {verdicts[ok]} |' for name, ok in s['invariants'].items()]
    return '\n'.join(lines)


def _placed(lost):
    return ', '.join(f'#{m["id"]} at {m["at_s"]} s ({m["fault"] or "no fault"})' for m in lost) or 'none'


def _held(by_process):
    return ', '.join(f'{name} {pg}/{redis}' for name, (pg, redis) in sorted(by_process.items()))


def _statuses(counts):
    return ', '.join(f'{status}: {count}' for status, count in sorted(counts.items()))


def write(summary, directory):
    """bench/results/soak-<run>.jsonl (the machine first, then the summary) and soak-<run>.md."""
    directory.mkdir(parents=True, exist_ok=True)
    machine = {'event': 'machine', 'cpus': __import__('os').cpu_count(), 'python': platform.python_version()}
    with open(directory / f'soak-{summary["run"]}.jsonl', 'w') as out:
        out.write(json.dumps(machine) + '\n')
        out.write(json.dumps({'event': 'summary', **summary}) + '\n')
    (directory / f'soak-{summary["run"]}.md').write_text(f'# Soak {summary["run"]}\n\n{table(summary)}\n')


def main(argv=None):
    options = arguments(argv)
    soak = Soak(options.minutes, options.seed, options.clients, options.faults, grace=options.grace)
    print(f'soak: run {soak.run_id}, {options.minutes} min, faults {[k for _, k in soak.plan]}', flush=True)
    try:
        summary = soak.run()
    finally:
        soak.teardown()
    write(summary, options.results)
    print(table(summary))
    if summary['passed']:
        shutil.rmtree(soak.workdir, ignore_errors=True)
    else:
        print(f'soak: an invariant failed; the logs are kept in {soak.workdir}')
    return 0 if summary['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
