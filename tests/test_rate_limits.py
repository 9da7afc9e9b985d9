"""Rate limits: hit, a JSON 429 with Retry-After, recovery; in one process and
across two; both storages held to one contract."""

import time

import pytest
import redis

from .conftest import Accounts, basic_auth
from .live import wait_for
from .test_scaled import Api

WINDOW = 2  # seconds: short, so that a test can wait for recovery


def _assert_limited(response):
    assert response.status_code == 429
    assert response.json['error'] == 'too many requests'
    assert int(response.headers['Retry-After']) >= 1


@pytest.fixture(params=['memory', 'redis'])
def storage(request):
    """The settings that choose each storage: the embedded mode's memory, and Redis when scaled."""
    if request.param == 'memory':
        return {}
    return {'REDIS_URL': request.getfixturevalue('redis_server').url}


def test_a_limit_holds_with_either_storage(app_factory, storage):
    client = app_factory(
        RATELIMIT_ENABLED=1, RATELIMIT_REGISTRATIONS_PER_ADDRESS='2 per minute', **storage
    ).test_client()

    answers = [
        client.post('/api/users', json={'nickname': f'u{n}', 'password': 'correct horse'}) for n in range(3)
    ]

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    _assert_limited(answers[2])


def test_the_scaled_mode_counts_in_redis(app_factory, redis_server):  # noqa: F811
    client = app_factory(RATELIMIT_ENABLED=1, REDIS_URL=redis_server.url).test_client()

    client.post('/api/users', json={'nickname': 'susan', 'password': 'correct horse'})

    # Not in the in-memory fallback, which would hold for one process only.
    assert redis.Redis.from_url(redis_server.url).keys('*flack*new_user*')


@pytest.fixture
def limited_app(app_factory):
    rate = f'3 per {WINDOW} seconds'
    return app_factory(
        RATELIMIT_ENABLED=1,
        RATELIMIT_TOKENS_PER_ADDRESS=f'5 per {WINDOW} seconds',
        RATELIMIT_TOKENS_PER_NICKNAME=rate,
        RATELIMIT_REGISTRATIONS_PER_ADDRESS=rate,
        RATELIMIT_POSTS_PER_USER=rate,
    )


def _after_the_window(request):
    """Wait out the window, then ask again until the limit has let go."""
    time.sleep(WINDOW)
    return wait_for(lambda: (response := request()).status_code != 429 and response, 'the limit to recover')


def test_registrations_per_address(limited_app):
    client = limited_app.test_client()

    for n in range(3):
        assert (
            client.post('/api/users', json={'nickname': f'u{n}', 'password': 'correct horse'}).status_code
            == 201
        )
    _assert_limited(client.post('/api/users', json={'nickname': 'u3', 'password': 'correct horse'}))
    assert len(client.get('/api/users').json['users']) == 3  # the refused one changed nothing

    recovered = _after_the_window(
        lambda: client.post('/api/users', json={'nickname': 'u3', 'password': 'x' * 9})
    )
    assert recovered.status_code == 201


def test_sign_ins_per_nickname_and_per_address(limited_app):
    client = limited_app.test_client()
    Accounts(client).register('susan')
    Accounts(client).register('david')

    for _ in range(3):
        assert client.post('/api/tokens', headers=basic_auth('susan', 'wrong password')).status_code == 401
    _assert_limited(client.post('/api/tokens', headers=basic_auth('susan', 'correct horse')))
    # Another nickname is not held by susan's limit, only by the address's (5: four used).
    assert client.post('/api/tokens', headers=basic_auth('david', 'correct horse')).status_code == 200
    _assert_limited(client.post('/api/tokens', headers=basic_auth('david', 'correct horse')))

    recovered = _after_the_window(
        lambda: client.post('/api/tokens', headers=basic_auth('susan', 'correct horse'))
    )
    assert recovered.status_code == 200


@pytest.fixture
def sign_in_app(app_factory):
    """Sign-in limits over a window no test outlasts: 5 per address, 3 failures per nickname and address."""
    return app_factory(
        RATELIMIT_ENABLED=1,
        RATELIMIT_TOKENS_PER_ADDRESS='5 per hour',
        RATELIMIT_TOKENS_PER_NICKNAME='3 per hour',
    )


def test_wrong_passwords_from_other_addresses_do_not_lock_the_user_out(sign_in_app):
    client = sign_in_app.test_client()
    Accounts(client).register('susan')
    sign_in = lambda password, address: client.post(  # noqa: E731
        '/api/tokens', headers=basic_auth('susan', password), environ_base={'REMOTE_ADDR': address}
    )

    # Ten guesses from rotating addresses, more than the nickname's limit (3).
    for n in range(10):
        assert sign_in('wrong password', f'198.51.100.{n}').status_code == 401
    # Each guessing address is held once it reaches the limit...
    for _ in range(2):
        assert sign_in('wrong password', '198.51.100.0').status_code == 401
    _assert_limited(sign_in('wrong password', '198.51.100.0'))
    # ...while susan, from her own address, signs in.
    signed_in = sign_in('correct horse', '203.0.113.5')
    assert signed_in.status_code == 200 and signed_in.json['token']


def test_only_failed_sign_ins_count_per_nickname(sign_in_app):
    client = sign_in_app.test_client()
    Accounts(client).register('susan')

    for _ in range(3):
        assert client.post('/api/tokens', headers=basic_auth('susan', 'correct horse')).status_code == 200
    # Signing in spent none of the nickname's limit (3), only the address's (5: four used).
    assert client.post('/api/tokens', headers=basic_auth('susan', 'wrong password')).status_code == 401


def test_posts_per_user(limited_app):
    client = limited_app.test_client()
    susan = Accounts(client).new('susan')
    david = Accounts(client).new('david')

    for n in range(3):
        assert client.post('/api/messages', json={'source': f'{n}'}, headers=susan.headers).status_code == 201
    _assert_limited(client.post('/api/messages', json={'source': 'one more'}, headers=susan.headers))
    assert client.post('/api/messages', json={'source': 'mine'}, headers=david.headers).status_code == 201
    assert len(client.get('/api/messages').json['messages']) == 4

    recovered = _after_the_window(
        lambda: client.post('/api/messages', json={'source': 'later'}, headers=susan.headers)
    )
    assert recovered.status_code == 201


def test_limits_can_be_turned_off(app_factory):
    client = app_factory(RATELIMIT_ENABLED=0, RATELIMIT_REGISTRATIONS_PER_ADDRESS='1 per hour').test_client()

    for n in range(3):
        assert (
            client.post('/api/users', json={'nickname': f'u{n}', 'password': 'correct horse'}).status_code
            == 201
        )


@pytest.mark.scaled
def test_a_limit_holds_across_two_web_processes(formation):  # noqa: F811
    flack = formation(RATELIMIT_ENABLED=1, RATELIMIT_REGISTRATIONS_PER_ADDRESS=f'3 per {WINDOW * 2} seconds')
    web1, web2 = Api(flack.start('web').url), Api(flack.start('web').url)

    answers = [
        api.call('POST', '/api/users', json={'nickname': f'u{n}', 'password': 'correct horse'})
        for n, api in enumerate([web1, web2, web1, web2])
    ]

    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert answers[3].json()['error'] == 'too many requests' and int(answers[3].headers['Retry-After']) >= 1
    time.sleep(WINDOW * 2)
    retry = lambda: web1.call('POST', '/api/users', json={'nickname': 'u4', 'password': 'correct horse'})  # noqa: E731
    assert wait_for(lambda: (r := retry()).status_code != 429 and r, 'recovery').status_code == 201
