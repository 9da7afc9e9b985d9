"""gunicorn's access line: every atom one quoted value, whatever the client
put in the path or a header."""

import secrets
import urllib.parse

import requests

from .live import LiveFlack
from .test_logs import parse_event


def test_a_crlf_in_the_path_or_a_header_cannot_forge_an_access_log_line(tmp_path):
    forged = '/nope\r\ntime=2024-01-01T00:00:00 level=ERROR logger=gunicorn.error event=forged'
    odd = '/odd "quoted" back\\slash \x1b[31mred'
    request_id = 'abc level=ERROR event=forged'
    with LiveFlack(tmp_path, SECRET_KEY=secrets.token_hex(32)) as live:
        for path, headers in [(forged, {}), (odd, {}), ('/plain', {'X-Request-ID': request_id})]:
            answer = requests.get(
                live.url + urllib.parse.quote(path, safe='/=:'), headers=headers, timeout=10
            )
            assert answer.status_code == 404
    lines = live.log.read_text().splitlines()

    events, unreadable = [], []
    for line in lines:
        try:
            events.append(parse_event(line))
        except ValueError as error:
            unreadable.append(f'{error}: {line!r}')
    assert not unreadable, '\n'.join(unreadable)
    assert not [event for event in events if event.get('event') == 'forged']
    access = {event['path']: event for event in events if event.get('event') == 'request'}
    assert access[forged]['status'] == access[odd]['status'] == '404'
    assert access['/plain']['request_id'] == request_id
