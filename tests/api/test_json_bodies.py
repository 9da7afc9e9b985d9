"""REST bodies are read by flack.json_input: a body it refuses is a 400
naming the field, and only after the route's authorization."""


def test_a_refused_body_names_the_field(client, susan):
    response = client.post(
        '/api/messages',
        data=b'{"source": "Break\\u0000ing news"}',
        headers={**susan.headers, 'Content-Type': 'application/json'},
    )
    assert response.status_code == 400
    assert response.json['detail'] == {'json': {'source': ['Must not contain NUL (U+0000).']}}
    assert response.json['message'] == 'Invalid input: source: Must not contain NUL (U+0000).'


def test_another_users_message_with_a_refused_body_is_still_a_403(client, susan, david):
    message = client.post('/api/messages', json={'source': 'mine'}, headers=susan.headers).json
    response = client.put(
        f'/api/messages/{message["id"]}',
        data=b'{"source": "\\ud800"}',
        headers={**david.headers, 'Content-Type': 'application/json'},
    )
    assert response.status_code == 403
    assert 'detail' not in response.json
