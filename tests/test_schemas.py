"""What the schemas let in: fields a client of the original API sends are
ignored, not refused; the shortest password is the setting's, read as each
request is validated; a text of white space only is no message."""

import pytest


def test_fields_the_api_does_not_know_are_ignored(client, susan):
    registered = client.post(
        '/api/users', json={'nickname': 'david', 'password': 'correct horse', 'email': 'x'}
    )
    posted = client.post('/api/messages', json={'source': 'hi', 'room': 'general'}, headers=susan.headers)

    assert registered.status_code == 201 and 'email' not in registered.json
    assert posted.status_code == 201 and 'room' not in posted.json


@pytest.mark.parametrize(('password', 'status'), [('a' * 11, 400), ('a' * 12, 201)])
def test_the_shortest_password_is_the_settings(app_factory, password, status):
    client = app_factory(PASSWORD_MIN_LENGTH=12).test_client()

    response = client.post('/api/users', json={'nickname': 'susan', 'password': password})

    assert response.status_code == status
    if status == 400:
        assert response.json['detail'] == {'json': {'password': ['Must be at least 12 characters long.']}}


@pytest.mark.parametrize('source', ['', ' ', '\n\t '])
def test_a_text_of_white_space_only_is_refused(client, susan, source):
    response = client.post('/api/messages', json={'source': source}, headers=susan.headers)

    assert response.status_code == 400
    assert response.json['detail'] == {'json': {'source': ['Must not be empty.']}}
    assert client.get('/api/messages').json['messages'] == []
