"""Channels: a message reaches its channel's members, once, and costs with them.

On the scaled formation (``servers.flack_scaled``: PostgreSQL, Redis, two
web processes): 2,000 users, each a member of general and of three of 100
channels drawn with a Zipf-like weighting from a fixed seed, so that the
channels range from a handful of members to several hundred. One
browser-like client per user (``bench/channels.mjs``), signed in with the
user's token, half of them on each web process. Then, in rounds, messages
are posted one at a time in channels picked across the sizes and in general
(every client), through ``POST /api/channels/<id>/messages`` on the web
processes in turn. Each client records what it hears: every member must get
each message once, and nobody else. Around each batch of posts the CPU time
of the web processes and of Redis is read from ``/proc``; less what they
spend idle with the same clients connected, it is the cost of a post,
against the members of its channel.

    python -m bench --only channels --async-modes eventlet
"""

import collections
import json
import os
import random
import secrets
import statistics
import time
from pathlib import Path

from tests.live import descendants

from .measure import start_node

USERS = 2000
CHANNELS = 100
CHANNELS_PER_USER = 3
# The channel of rank r (from 1) is drawn with weight 1 / r ** ZIPF_EXPONENT:
# with this seed, from 7 members to 995.
ZIPF_EXPONENT = 1.0
SEED = 7
# Channels posted in, besides general: sizes spaced evenly on a log scale
# from the smallest to the largest, so that small ones are not all alike.
MEASURED_CHANNELS = 9
GENERAL_CHANNEL_ID = 1  # flack.models: every user is a member of it
ROUNDS = 5
POSTS_PER_ROUND = 10
# The idle baseline lasts as long as the posts did, within these bounds.
IDLE_SECONDS = (10, 60)
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def draw_memberships(users=USERS, channels=CHANNELS, per_user=CHANNELS_PER_USER, seed=SEED):
    """For each user, the ``per_user`` channels (indices from 0) they are a
    member of besides general: drawn without replacement, channel i with
    weight 1 / (i + 1) ** ZIPF_EXPONENT, from a fixed seed."""
    draw = random.Random(seed)
    weights = [1 / rank**ZIPF_EXPONENT for rank in range(1, channels + 1)]
    memberships = []
    for _ in range(users):
        chosen = set()
        while len(chosen) < per_user:
            chosen.add(draw.choices(range(channels), weights)[0])
        memberships.append(sorted(chosen))
    return memberships


def channel_sizes(memberships, channels=CHANNELS):
    """The members of each channel (by index), general aside."""
    counts = collections.Counter(index for drawn in memberships for index in drawn)
    return [counts[index] for index in range(channels)]


def measured_channels(sizes, count=MEASURED_CHANNELS):
    """``count`` channels (indices), smallest first: those nearest to sizes
    spaced evenly on a log scale from the smallest channel to the largest."""
    low, high = min(sizes), max(sizes)
    chosen = []
    for step in range(count):
        target = low * (high / low) ** (step / (count - 1))
        left = [index for index in range(len(sizes)) if index not in chosen]
        chosen.append(min(left, key=lambda index: (abs(sizes[index] - target), index)))
    return sorted(chosen, key=lambda index: (sizes[index], index))


def channel_name(index):
    return f'bench-{index:03d}'


def seed(environ, memberships, channels=CHANNELS):
    """Store the users, their tokens, the channels and the memberships with
    Flack's own models and functions, in this process, in the deployment's
    database and with its settings (``environ``): its SECRET_KEY derives the
    tokens, so its web processes accept them. Returns the tokens, in the
    order of ``memberships``, and the channels' ids, by index."""
    from flack import create_app
    from flack.extensions import db

    # A process that serves no clients, as the Celery worker: what it
    # commits is only published (nobody is connected yet).
    app = create_app(environ, process='worker')
    with app.app_context():
        try:
            users, tokens = _store_users(len(memberships))
            channel_ids = _store_channels(users, memberships, channels)
        finally:
            db.session.remove()
            db.engine.dispose()
    return tokens, channel_ids


def _store_users(count):
    from werkzeug.security import generate_password_hash

    from flack.auth import issue_token
    from flack.channels import add_to_general
    from flack.extensions import db
    from flack.models import User

    # Registering hashes each password, a tenth of a second or more each:
    # the users share one, hashed once. The clients sign in with tokens.
    password_hash = generate_password_hash(secrets.token_urlsafe(12))
    users = []
    for number in range(count):
        user = User(nickname=f'member{number:04d}', password_hash=password_hash)
        db.session.add(user)
        add_to_general(user)  # as registering does
        users.append(user)
    tokens = [issue_token(user) for user in users]
    db.session.commit()
    return users, tokens


def _store_channels(users, memberships, channels):
    """Each channel made by its first member, as ``POST /api/channels`` makes
    it (flack.channels.create_channel); the other members' rows as joining
    stores them, in one transaction (nobody is connected: no room to enter)."""
    from flack.channels import create_channel
    from flack.extensions import db
    from flack.models import Membership

    members = [[] for _ in range(channels)]
    for user, drawn in zip(users, memberships, strict=True):
        for index in drawn:
            members[index].append(user)
    if not all(members):
        raise ValueError('a channel drew no member: more users or a smaller exponent')
    channel_ids = []
    for index, channel_members in enumerate(members):
        channel = create_channel(channel_members[0], channel_name(index))
        channel_ids.append(channel.id)
        db.session.add_all(Membership(channel_id=channel.id, user_id=user.id) for user in channel_members[1:])
    db.session.commit()
    return channel_ids


def cpu_seconds(pid):
    """User and system CPU time of ``pid``, all its threads, from ``/proc/<pid>/stat``."""
    # After the program name (which may hold spaces and parentheses), utime
    # and stime are the 12th and 13th fields.
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuMeter:
    """CPU time of each web process (gunicorn's master and its worker) and of Redis."""

    def __init__(self, deployment, services):
        self.processes = {
            f'web{number}': [web.process.popen.pid, *descendants(web.process.popen.pid)]
            for number, web in enumerate(deployment.web, 1)
        }
        self.processes['redis'] = [services.redis.pid]

    def sample(self):
        """Seconds of CPU so far, by process name; a process that ended since the meter began fails."""
        try:
            return {name: sum(map(cpu_seconds, pids)) for name, pids in self.processes.items()}
        except FileNotFoundError as error:
            raise RuntimeError(f'a measured process ended during the channels workload: {error}') from None

    def since(self, before):
        now = self.sample()
        return {name: now[name] - before[name] for name in now}


def _send(node, line):
    node.stdin.write(line + '\n')
    node.stdin.flush()


def _expect(node, event):
    line = node.stdout.readline()
    message = json.loads(line) if line.strip() else {}
    if message.get('event') != event:
        raise RuntimeError(f'channels.mjs: expected {event!r}, got {line!r}')
    return message


def _post_rounds(node, meter, channel_ids, rounds, posts):
    """``posts`` messages in each channel, ``rounds`` times, each batch timed
    and its CPU read. Every other round goes in reverse, so that no channel
    always follows the same one."""
    batches = []
    for round_number in range(rounds):
        order = channel_ids if round_number % 2 == 0 else channel_ids[::-1]
        for channel_id in order:
            before, started = meter.sample(), time.monotonic()
            _send(node, f'post {channel_id} {posts}')
            _expect(node, 'posted')
            cpu = meter.since(before)
            batches.append(
                {'channel_id': channel_id, 'posts': posts, 'seconds': time.monotonic() - started, 'cpu': cpu}
            )
    return batches


def _idle_rates(meter, seconds):
    """CPU seconds per second of each process with the clients connected and
    nothing posted, over ``seconds``; and the seconds it took."""
    before, started = meter.sample(), time.monotonic()
    time.sleep(seconds)
    cpu = meter.since(before)
    elapsed = time.monotonic() - started
    return {name: spent / elapsed for name, spent in cpu.items()}, elapsed


def _cost(batches, idle):
    """CPU per post of one channel's ``batches``, in ms, less the idle rate over their time."""
    posts = sum(batch['posts'] for batch in batches)
    web = [name for name in idle if name.startswith('web')]

    def net(batch, names):
        return sum(batch['cpu'][name] - idle[name] * batch['seconds'] for name in names)

    def per_post(seconds, count=posts):
        return round(1000 * seconds / count, 2)

    by_round = [per_post(net(batch, web), batch['posts']) for batch in batches]
    return {
        'cpu_ms_per_post': per_post(sum(net(batch, web) for batch in batches)),
        'cpu_ms_per_post_raw': per_post(sum(batch['cpu'][name] for batch in batches for name in web)),
        'cpu_ms_per_post_by_web': [per_post(sum(net(batch, [name]) for batch in batches)) for name in web],
        'cpu_ms_per_post_by_round': by_round,
        'cpu_ms_per_post_median_round': round(statistics.median(by_round), 2),
        'redis_cpu_ms_per_post': per_post(sum(net(batch, ['redis']) for batch in batches)),
        'posting_seconds': round(sum(batch['seconds'] for batch in batches), 2),
    }


def _clients(tokens, memberships, channel_ids):
    """What channels.mjs is told of each user: its token, and its channels' ids, general's first."""
    return [
        {'token': token, 'channels': [GENERAL_CHANNEL_ID, *(channel_ids[index] for index in drawn)]}
        for token, drawn in zip(tokens, memberships, strict=True)
    ]


def _load(deployment, services, run_id, clients, channel_ids, rounds, posts):
    """channels.mjs: every client connected, the posts in ``channel_ids``, then
    an idle spell as long as the posts took (within ``IDLE_SECONDS``), then
    who got what. Returns what channels.mjs said once connected, the batches
    of posts, the idle rates and how long they were measured, and its result."""
    node = start_node('channels.mjs', {'urls': [web.url for web in deployment.web], 'run_id': run_id})
    try:
        _send(node, json.dumps(clients))
        connected = _expect(node, 'connected')
        meter = CpuMeter(deployment, services)
        batches = _post_rounds(node, meter, channel_ids, rounds, posts)
        posting = sum(batch['seconds'] for batch in batches)
        idle, idle_seconds = _idle_rates(meter, min(max(posting, IDLE_SECONDS[0]), IDLE_SECONDS[1]))
        _send(node, 'result')
        result = _expect(node, 'result')
        node.wait(timeout=60)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    return connected, batches, idle, idle_seconds, result


def run(deployment, services, run_id, users=USERS, channels=CHANNELS, rounds=ROUNDS, posts=POSTS_PER_ROUND):
    """The workload on a running ``servers.flack_scaled`` deployment, freshly
    made (its users are the bench's ten): one record per channel posted in."""
    started = time.monotonic()
    memberships = draw_memberships(users, channels)
    sizes = channel_sizes(memberships, channels)
    tokens, channel_ids = seed(deployment.environ, memberships, channels)
    seed_seconds = time.monotonic() - started
    # Started afresh on the seeded data, as before every measure.
    deployment.restart_web()
    names = {channel_ids[index]: channel_name(index) for index in measured_channels(sizes)}
    names[GENERAL_CHANNEL_ID] = 'general'
    connected, batches, idle, idle_seconds, result = _load(
        deployment, services, run_id, _clients(tokens, memberships, channel_ids), list(names), rounds, posts
    )
    common = {
        'app': 'flack-scaled',
        'web_processes': len(deployment.web),
        'clients': users,
        'connected': connected['connected'],
        'deflate_negotiated': connected['deflate_negotiated'],
        'disconnected': result['disconnected'],
        'channels': channels,
        'channels_per_user': CHANNELS_PER_USER,
        'channel_sizes': {'smallest': min(sizes), 'median': statistics.median(sizes), 'largest': max(sizes)},
        'seed_s': round(seed_seconds, 1),
        'connect_s': connected['connect_s'],
        'settle_s': connected['settle_s'],
        'user_events_while_connecting': connected['user_events'],
        'idle_seconds': round(idle_seconds, 1),
        'idle_web_cpu_ms_per_s': round(1000 * sum(rate for name, rate in idle.items() if name != 'redis'), 1),
        'idle_redis_cpu_ms_per_s': round(1000 * idle['redis'], 1),
        'rounds': rounds,
        'seconds': round(time.monotonic() - started, 1),
    }
    return [
        {
            **common,
            'channel': name,
            'channel_id': channel_id,
            **result['channels'][str(channel_id)],
            **_cost([batch for batch in batches if batch['channel_id'] == channel_id], idle),
        }
        for channel_id, name in names.items()
    ]
