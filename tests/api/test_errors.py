"""Every error as JSON: ``{"error", "message"}`` (and ``detail`` for invalid
input), whatever raised it: a route, routing, or a validator."""

import json


def test_error_bodies_are_json_with_the_json_content_type(client):
    response = client.get('/api/users/abc')

    assert response.headers['Content-Type'] == 'application/json'
    assert json.loads(response.data)['error'] == 'not found'


def test_a_method_an_address_does_not_take_is_a_json_405_that_keeps_allow(client):
    response = client.delete('/api/users')

    assert response.status_code == 405
    assert response.json == {
        'error': 'method not allowed',
        'message': 'This address does not accept that method.',
    }
    assert set(response.headers['Allow'].split(', ')) >= {'GET', 'POST'}


def test_invalid_input_names_each_field_and_its_problem(client):
    response = client.post('/api/users', json={'nickname': ' susan', 'password': 'short'})

    assert response.status_code == 400
    assert response.json['error'] == 'bad request'
    assert response.json['message'].startswith('Invalid input: ')
    assert 'nickname: Must not start or end with white space.' in response.json['message']
    assert 'password: Must be at least 8 characters long.' in response.json['message']
    assert set(response.json['detail']['json']) == {'nickname', 'password'}
