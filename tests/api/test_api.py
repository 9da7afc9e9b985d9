"""The blueprint's own part of the OpenAPI document: a request body is
marked required exactly where its schema has required fields."""


def test_a_body_is_required_where_its_schema_requires_a_field(client):
    document = client.get('/api/openapi.json').json

    required = {
        f'{method.upper()} {path}': operation['requestBody'].get('required', False)
        for path, item in document['paths'].items()
        for method, operation in item.items()
        if 'requestBody' in operation
    }

    assert required == {
        'POST /api/users': True,
        'PUT /api/users/{id}': False,  # either field, or both: none is required
        'POST /api/messages': True,
        'PUT /api/messages/{id}': True,
        'POST /api/channels': True,
        'POST /api/channels/{id}/messages': True,
        'POST /api/conversations': True,
        'PUT /api/channels/{id}/read': True,
    }
