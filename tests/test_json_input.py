"""Every JSON document a client sends goes through flack.json_input: bodies
that break its rules are a 400 naming the field, Socket.IO payloads an error
ack, and nothing is stored. The property tests generate the pathological
classes below by the hundred per route and per event, on SQLite and on
PostgreSQL; the Socket.IO ones against the Procfile's web process."""

import itertools
import json
from collections import Counter

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flack.json_input import DEEPEST, MOST_INTEGER_DIGITS, MOST_VALUES, InvalidJSON, NotJSON, decode

from .conftest import stored_counts
from .live import LiveFlack
from .services import PostgresDatabase

EXAMPLES = 500
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --- the decoder's rules ------------------------------------------------------


@pytest.mark.parametrize(
    'document, path, reason',
    [
        (b'{"source": "a\\u0000b"}', 'source', 'Must not contain NUL (U+0000).'),
        (b'{"source": ["x", "\\ud800"]}', 'source.1', 'Must not contain a lone surrogate (U+D800).'),
        (b'{"source": "\\udc00\\ud800"}', 'source', 'Must not contain a lone surrogate (U+DC00).'),
        (b'{"a": {"b\\u0000": 1}}', 'a', 'A key must not contain NUL (U+0000).'),
        (b'{"a": ' + b'[' * DEEPEST + b']' * DEEPEST + b'}', 'a' + '.0' * (DEEPEST - 1), None),
        (b'[' * 5000 + b']' * 5000, None, f'Nested deeper than {DEEPEST} levels.'),
        (b'{"id": 1' + b'0' * MOST_INTEGER_DIGITS + b'}', None, None),
        (b'{"x": 1e400}', None, 'The number 1e400 is too large or too long.'),
        (b'{"x": NaN}', None, 'NaN is not a JSON number.'),
        (b'{"x": -Infinity}', None, '-Infinity is not a JSON number.'),
        (b'{"source": "a", "source": "b"}', None, 'The key "source" appears more than once.'),
        (b'[' + b'0,' * MOST_VALUES + b'0]', None, f'More than {MOST_VALUES} values.'),
    ],
)
def test_a_document_breaking_a_rule_says_where_and_why(document, path, reason):
    with pytest.raises(InvalidJSON) as raised:
        decode(document)
    assert not isinstance(raised.value, NotJSON)
    detail = raised.value.detail()['json']
    if path is None:
        assert detail == [reason or raised.value.reason]
    else:
        assert list(detail) == [path]
        assert reason is None or detail[path] == [reason]


@pytest.mark.parametrize(
    'document',
    [
        b'{"a": "\xed\xa0\x80"}',
        b'{"a": "\xc0\xaf"}',
        b'\xef\xbb\xbf{}',
        '{}'.encode('utf-16'),
        b'{"a": 1,}',
        b'',
    ],
    ids=['encoded surrogate', 'overlong', 'UTF-8 BOM', 'UTF-16', 'trailing comma', 'empty'],
)
def test_what_is_not_json_in_utf_8_is_not_json(document):
    with pytest.raises(NotJSON):
        decode(document)


@pytest.mark.parametrize(
    'document',
    [
        '{"source": "😀 caf\\u00e9 \\ud83d\\ude00", "n": -12345678901234567890, "f": 1.5e308}',
        '{"a": ' + '[' * (DEEPEST - 1) + ']' * (DEEPEST - 1) + '}',
        '[' + '0,' * (MOST_VALUES - 2) + '0]',
        '{"source": "tab\\tand\\nnewline"}',
    ],
    ids=['text and numbers at the limits', 'deepest', 'most values', 'control characters a message may hold'],
)
def test_what_clients_send_is_decoded_as_python_does(document):
    assert decode(document.encode()) == json.loads(document)


# --- what the property tests generate ------------------------------------------

SLOT = '\x01slot\x01'


def _filled(template, raw):
    """``template`` (a JSON value holding SLOT once) as text, with ``raw`` JSON text in the slot."""
    return json.dumps(template).replace(json.dumps(SLOT), raw)


def _repeat(pattern, times):
    return (pattern * (times // len(pattern) + 1))[:times]


@st.composite
def _deep(draw):
    depth = draw(st.integers(DEEPEST + 1, 3000))
    openers = draw(st.lists(st.sampled_from(['[', '{"a":', '{"\\u00e9":']), min_size=1, max_size=4))
    opened = _repeat(openers, depth)
    closers = ''.join(']' if opener == '[' else '}' for opener in reversed(opened))
    return ''.join(opened) + draw(st.sampled_from(['1', '"x"', 'null', '[]', '{}'])) + closers


@st.composite
def _big_integer(draw):
    digits = draw(st.integers(MOST_INTEGER_DIGITS + 1, 6000))
    pattern = draw(st.text('0123456789', min_size=1, max_size=8))
    return (
        draw(st.sampled_from(['', '-'])) + draw(st.sampled_from('123456789')) + _repeat(pattern, digits - 1)
    )


_huge_float = st.one_of(
    st.builds(
        lambda mantissa, sign, exponent: f'{mantissa}e{sign}{exponent}',
        st.sampled_from(['1', '-1', '9.99', '0.5', '17']),
        st.sampled_from(['', '+']),
        st.integers(330, 10**6),
    ),
    # Finite, but longer than any double needs.
    st.integers(40, 5000).map(lambda length: '0.' + _repeat('142857', length)),
)

_constant = st.sampled_from(['NaN', 'Infinity', '-Infinity'])


@st.composite
def _text_with(draw, escapes):
    """A JSON string holding one of ``escapes`` (a strategy) somewhere."""
    escaped = draw(escapes)
    before = draw(st.text(st.characters(codec='utf-8', exclude_categories=['Cs', 'Cc']), max_size=20))
    after = draw(st.text('abc é', max_size=5))
    return json.dumps(before)[:-1] + escaped + after + '"'


_nul = st.sampled_from(['\\u0000', 'x\\u0000', '\\u0000\\u0000'])
_lone_surrogate = st.one_of(
    # A high surrogate with no low one after it, a low one alone, a pair reversed.
    st.integers(0xD800, 0xDBFF).map(lambda high: f'\\u{high:04x}'),
    st.integers(0xDC00, 0xDFFF).map(lambda low: f'\\u{low:04x}'),
    st.tuples(st.integers(0xDC00, 0xDFFF), st.integers(0xD800, 0xDBFF)).map(
        lambda pair: f'\\u{pair[0]:04x}\\u{pair[1]:04x}'
    ),
)


@st.composite
def _bad_key(draw):
    return '{' + draw(_text_with(st.one_of(_nul, _lone_surrogate))) + ': "hi"}'


@st.composite
def _duplicate_keys(draw):
    key = json.dumps(draw(st.sampled_from(['source', 'nickname', 'password', 'token', 'a'])))
    values = draw(st.lists(st.sampled_from(['"x"', '"correct horse"', '1', 'null']), min_size=2, max_size=3))
    return '{' + ', '.join(f'{key}: {value}' for value in values) + '}'


@st.composite
def _long_array(draw):
    length = draw(st.integers(MOST_VALUES, 20_000))
    item = draw(st.sampled_from(['0', '"x"', '{}', '[]', 'true']))
    return '[' + ','.join([item] * length) + ']'


# Each class is a raw JSON value, to put anywhere in a document.
VALUE_CLASSES = {
    'deep nesting': _deep(),
    'integer of too many digits': _big_integer(),
    'number overflowing a double or too long': _huge_float,
    'NaN or Infinity': _constant,
    'duplicate keys': _duplicate_keys(),
    'NUL in a string': _text_with(_nul),
    'lone surrogate in a string': _text_with(_lone_surrogate),
    'NUL or lone surrogate in a key': _bad_key(),
    'array past the count of values': _long_array(),
}

# These break the bytes, which only request bodies carry (a Socket.IO text
# frame is UTF-8 by the websocket protocol).
_INVALID_UTF_8 = [
    b'\xff',
    b'\xfe\xff',
    b'\x80',
    b'\xc3',
    b'\xc0\xaf',
    b'\xe0\x80\xaf',
    b'\xed\xa0\x80',
    b'\xed\xbf\xbf',
    b'\xf4\x90\x80\x80',
    b'\xf8\x88\x80\x80\x80',
]


def _templates(fields):
    """Where a value may go in a body of ``fields``: a field, a field we ignore, the whole body."""
    valid = {field: 'correct horse battery' for field in fields}
    return st.sampled_from(
        [{**valid, field: SLOT} for field in fields]
        + [{**valid, 'extra': SLOT}, {**valid, 'x': [1, SLOT]}, SLOT]
    )


@st.composite
def pathological_bodies(draw, fields):
    """(class, body) pairs: a request body of ``fields`` made wrong in one way."""
    kind = draw(st.sampled_from([*VALUE_CLASSES, 'invalid UTF-8', 'byte order mark', 'NUL byte']))
    valid = json.dumps({field: 'correct horse battery' for field in fields})
    if kind in VALUE_CLASSES:
        return kind, _filled(draw(_templates(fields)), draw(VALUE_CLASSES[kind])).encode()
    if kind == 'invalid UTF-8':
        where = draw(st.integers(1, len(valid) - 2))
        return kind, valid[:where].encode() + draw(st.sampled_from(_INVALID_UTF_8)) + valid[where:].encode()
    if kind == 'byte order mark':
        encoding = draw(st.sampled_from(['utf-8-sig', 'utf-16', 'utf-16-be', 'utf-32']))
        return kind, valid.encode(encoding)
    where = draw(st.integers(0, len(valid)))  # raw, not escaped: JSON does not allow it anywhere
    return kind, valid[:where].encode() + b'\x00' + valid[where:].encode()


def _check_every_class_was_tried(seen, classes):
    missing = set(classes) - set(seen)
    assert not missing, f'not generated: {missing}'


# --- request bodies --------------------------------------------------------------

WRITE_ROUTES = {
    'POST /api/users': ('POST', '/api/users', ['nickname', 'password']),
    'PUT /api/users/<id>': ('PUT', '/api/users/{user}', ['nickname', 'password']),
    'POST /api/messages': ('POST', '/api/messages', ['source']),
    'PUT /api/messages/<id>': ('PUT', '/api/messages/{message}', ['source']),
}


@pytest.mark.parametrize('route', WRITE_ROUTES.values(), ids=WRITE_ROUTES.keys())
def test_no_pathological_body_gets_past_a_400_or_changes_anything(app, client, susan, route):
    method, path, fields = route
    message = client.post('/api/messages', json={'source': 'hello'}, headers=susan.headers).json
    url = path.format(user=susan.id, message=message['id'])
    before = stored_counts(app)
    seen = Counter()

    @PROPERTY
    @given(pathological_bodies(fields))
    def body_is_refused(case):
        kind, body = case
        seen[kind] += 1
        response = client.open(
            url, method=method, data=body, headers={**susan.headers, 'Content-Type': 'application/json'}
        )
        assert response.status_code in (400, 413), (kind, body[:200], response.status_code)
        assert response.json['error'] in ('bad request', 'too large')

    body_is_refused()
    assert stored_counts(app) == before
    _check_every_class_was_tried(seen, [*VALUE_CLASSES, 'invalid UTF-8', 'byte order mark', 'NUL byte'])


# --- Socket.IO payloads ------------------------------------------------------------


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def live(request, tmp_path_factory):
    """The web process, on SQLite or on a PostgreSQL database of its own."""
    settings = {'RATELIMIT_ENABLED': 0}  # hundreds of events a second, from one client
    database = None
    if request.param == 'postgresql':
        database = PostgresDatabase()
        settings['DATABASE_URL'] = database.url
    try:
        with LiveFlack(tmp_path_factory.mktemp('json-input'), **settings) as live:
            yield live
    finally:
        if database is not None:
            database.drop()


@pytest.fixture(scope='module')
def token(live):
    password = 'correct horse battery'
    requests.post(f'{live.url}/api/users', json={'nickname': 'susan', 'password': password}, timeout=10)
    return requests.post(f'{live.url}/api/tokens', auth=('susan', password), timeout=10).json()['token']


def _socket(live, connect=True):
    ws = websocket.create_connection(
        f'{live.url.replace("http", "ws", 1)}/socket.io/?EIO=4&transport=websocket'
    )
    assert ws.recv().startswith('0{')  # Engine.IO open
    if connect:
        ws.send('40')
        assert ws.recv().startswith('40{')
    ws.settimeout(10)
    return ws


def _answer(ws, prefix):
    """The first frame starting with ``prefix``, answering Engine.IO pings on the way."""
    while True:
        frame = ws.recv()
        if frame == '2':
            ws.send('3')
        elif frame.startswith(prefix):
            return frame


def _stored(live, token):
    headers = {'Authorization': f'Bearer {token}'}
    users = requests.get(f'{live.url}/api/users', headers=headers, timeout=10).json()['users']
    messages = requests.get(f'{live.url}/api/messages', headers=headers, timeout=10).json()['messages']
    return [(user['nickname'], user['updated_at']) for user in users], messages


def _event_templates(event, token):
    """Where a value may go in the arguments of ``event``."""
    if event == 'post_message':
        return st.sampled_from(
            [[event, SLOT, token], [event, {'source': SLOT}, token], [event, {'source': 'hi'}, SLOT], [SLOT]]
        )
    return st.sampled_from([[event, SLOT], [event, token, SLOT], [SLOT, token]])


@pytest.mark.parametrize('event', ['post_message', 'ping_user'])
def test_no_pathological_payload_gets_past_an_error_ack_or_changes_anything(live, token, event):
    ws = _socket(live)
    before = _stored(live, token)
    ids = itertools.count(1)
    seen = Counter()

    @PROPERTY
    @given(
        st.sampled_from(list(VALUE_CLASSES)).flatmap(
            lambda kind: st.tuples(st.just(kind), VALUE_CLASSES[kind])
        ),
        _event_templates(event, token),
    )
    def payload_is_refused(case, template):
        kind, value = case
        seen[kind] += 1
        ack = next(ids)
        ws.send(f'42{ack}{_filled(template, value)}')
        answer = _answer(ws, '43')
        assert answer.startswith(f'43{ack}['), (kind, answer[:200])
        (body,) = json.loads(answer[len(f'43{ack}') :])
        assert body['error'] == 'bad request', (kind, body)
        assert body['detail']['json'], body

    payload_is_refused()
    ws.close()
    assert _stored(live, token) == before
    assert not [
        line for line in live.log.read_text().splitlines() if 'level=ERROR' in line or 'Traceback' in line
    ]
    _check_every_class_was_tried(seen, VALUE_CLASSES)


def test_no_pathological_connect_payload_is_let_in(live, token):
    seen = Counter()

    @PROPERTY
    @given(
        st.sampled_from(list(VALUE_CLASSES)).flatmap(
            lambda kind: st.tuples(st.just(kind), VALUE_CLASSES[kind])
        ),
        # An object, as the protocol has it (a leading digit would be read as an ack id).
        st.sampled_from([{'token': SLOT}, {'token': token, 'x': SLOT}, {'x': [SLOT]}]),
    )
    def connect_is_refused(case, template):
        kind, value = case
        seen[kind] += 1
        ws = _socket(live, connect=False)
        try:
            ws.send(f'40{_filled(template, value)}')
            answer = _answer(ws, '4')
        finally:
            ws.close()
        assert answer.startswith('44{'), (kind, answer[:200])  # Socket.IO's CONNECT_ERROR
        refusal = json.loads(answer[2:])
        assert refusal['message'] == 'bad request'
        assert refusal['data']['error'] == 'bad request' and refusal['data']['detail']['json'], refusal

    connect_is_refused()
    _check_every_class_was_tried(seen, VALUE_CLASSES)


def test_a_refused_payload_names_where_and_the_connection_stays(live, token):
    ws = _socket(live)
    ws.send('421["post_message", {"source": "Break\\u0000ing news"}]')
    (body,) = json.loads(_answer(ws, '431')[3:])
    assert body['detail'] == {'json': {'1.source': ['Must not contain NUL (U+0000).']}}

    ws.send(f'422{json.dumps(["post_message", {"source": "hello"}, token])}')
    (stored,) = json.loads(_answer(ws, '432')[3:])
    assert stored['source'] == 'hello'
    ws.close()
