"""The one JSON decoder for what clients send: request bodies and Socket.IO payloads.

Python's ``json`` accepts more than a chat client ever sends, and some of
it fails later, far from the input: nesting deep enough to exhaust the
recursion limit, integers past the 4,300 digits ``int`` converts, strings
holding a NUL (which PostgreSQL refuses) or a lone surrogate (which no
driver encodes). Here every document is checked once, as it is decoded,
against limits far above what Flack's inputs need:

- strict UTF-8 without a byte order mark (RFC 8259 section 8.1);
- no ``NaN`` or ``Infinity``, no number that overflows a double, no integer
  of more than ``MOST_INTEGER_DIGITS`` digits;
- no key twice in an object (parsers disagree on which one wins);
- at most ``DEEPEST`` levels of arrays and objects and ``MOST_VALUES``
  values in all;
- no NUL and no lone surrogate in any string, key or value.

A document that breaks a rule raises ``InvalidJSON``, which says where;
one that is not JSON at all, its subclass ``NotJSON``.
"""

import json
import math
import re

# Flack's deepest input is an object in an event's argument list (3 levels).
DEEPEST = 16
MOST_VALUES = 1000
# Ids and Unix times fit 64 bits: 19 digits, and a sign.
MOST_INTEGER_DIGITS = 20
# A double needs 17 significant digits; room for an exponent and a sign.
LONGEST_NUMBER = 32

_UNSTORABLE = re.compile(r'[\x00\ud800-\udfff]')


class InvalidJSON(ValueError):
    """A document that breaks a rule: ``reason``, at ``path`` (keys and indexes from the root)."""

    def __init__(self, reason, path=()):
        super().__init__(reason)
        self.reason = reason
        self.path = tuple(path)

    def detail(self, location='json'):
        """The problem in the shape of a validation error: ``{location: {path: [reason]}}``."""
        if not self.path:
            return {location: [self.reason]}
        # Keys are the client's: shortened, so that the answer stays small.
        return {location: {'.'.join(str(step)[:40] for step in self.path): [self.reason]}}


class NotJSON(InvalidJSON):
    """A document that is not JSON text at all (not UTF-8, or not the grammar)."""


def decode(document):
    """The value of ``document`` (bytes or str), or ``InvalidJSON``."""
    if isinstance(document, (bytes, bytearray)):
        try:
            document = document.decode('utf-8')  # strict: no encoded surrogates either
        except UnicodeDecodeError as error:
            raise NotJSON(f'Not valid UTF-8 (byte {error.start}).') from None
    if document.startswith('\ufeff'):
        raise NotJSON('Starts with a byte order mark; send UTF-8 without one.')
    try:
        value = json.loads(
            document,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except RecursionError:
        raise InvalidJSON(f'Nested deeper than {DEEPEST} levels.') from None
    except json.JSONDecodeError as error:
        raise NotJSON(f'Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).') from None
    _check(value, [], [0])
    return value


def loads(document, **_options):
    """``decode``, under the name python-socketio and python-engineio call."""
    return decode(document)


def dumps(value, **options):
    """What the JSON module python-socketio is given must also encode."""
    return json.dumps(value, **options)


def _object(pairs):
    result = dict(pairs)
    if len(result) < len(pairs):
        seen = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InvalidJSON(f'The key {_shown(twice)} appears more than once.')
    return result


def _integer(digits):
    if len(digits.lstrip('-')) > MOST_INTEGER_DIGITS:
        raise InvalidJSON(f'An integer of more than {MOST_INTEGER_DIGITS} digits.')
    return int(digits)


def _float(text):
    number = float(text) if len(text) <= LONGEST_NUMBER else math.inf
    if not math.isfinite(number):
        raise InvalidJSON(f'The number {text[:LONGEST_NUMBER]} is too large or too long.')
    return number


def _constant(name):
    raise InvalidJSON(f'{name} is not a JSON number.')


def _check(value, path, count):
    """Walk ``value``: depth, number of values, and what its strings hold."""
    count[0] += 1
    if count[0] > MOST_VALUES:
        raise InvalidJSON(f'More than {MOST_VALUES} values.')
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, (dict, list)):
        if len(path) >= DEEPEST:
            raise InvalidJSON(f'Nested deeper than {DEEPEST} levels.', path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _check_text(key, path, is_key=True)
            path.append(key)
            _check(item, path, count)
            path.pop()


def _check_text(text, path, is_key=False):
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    character = found.group()
    name = 'NUL (U+0000)' if character == '\x00' else f'a lone surrogate (U+{ord(character):04X})'
    subject = 'A key must' if is_key else 'Must'
    raise InvalidJSON(f'{subject} not contain {name}.', path)


def _shown(key):
    """A key as an error message may quote it: short, and only if storable."""
    if _UNSTORABLE.search(key):
        return 'with an unstorable character'
    return json.dumps(key[:40])
