"""One person per nickname: lookalikes are one account, invisible characters are refused."""

import pytest
from sqlalchemy.exc import IntegrityError

from flack.extensions import db
from flack.models import User
from flack.nicknames import LONGEST_KEY, LONGEST_NICKNAME, find_refused_character, fold_nickname

from .conftest import basic_auth

# The nicknames of issue 13: each reads as "Dave", and each was an account of its own.
VISIBLE_LOOKALIKES = {
    'upper case': 'DAVE',
    'fullwidth': '\uff44\uff41\uff56\uff45',  # ｄａｖｅ
    'Cyrillic a': 'd\u0430ve',
    'Roman numeral': '\u217eave',  # SMALL ROMAN NUMERAL FIVE HUNDRED, then "ave"
}
# Refused for the invisible character before being compared; still Dave's at sign-in.
ZERO_WIDTH_LOOKALIKE = 'dave\u200b'
LOOKALIKES = {**VISIBLE_LOOKALIKES, 'zero-width space': ZERO_WIDTH_LOOKALIKE}
PASSWORD = 'correct horse'

REFUSED = {
    'zero-width space': 'da\u200bve',
    'right-to-left override': '\u202egnp.exe',
    'left-to-right isolate': '\u2066dave\u2069',
    'zero-width joiner': 'da\u200dve',
    'byte order mark': '\ufeffdave',
    'soft hyphen': 'da\u00adve',
    'Arabic letter mark': 'dave\u061c',
    'tag character': 'dave\U000e0041',
    'NUL': 'da\x00ve',
    'start of heading': 'da\x01ve',
    'escape': 'dave\x1b[31m',
    'tab': 'da\tve',
    'delete': 'dave\x7f',
    'C1 next line': 'dave\x85x',
    'line separator': 'da\u2028ve',
    'Hangul filler': 'dave\u3164',
    'private use': 'dave\ue000',
    'unassigned': 'dave\u0378',
    'lone surrogate': 'dave\ud800',
}


def register(client, nickname, password=PASSWORD):
    return client.post('/api/users', json={'nickname': nickname, 'password': password})


def sign_in(client, nickname, password=PASSWORD):
    return client.post('/api/tokens', headers=basic_auth(nickname, password))


@pytest.mark.parametrize('nickname', ['Dave', *LOOKALIKES.values()], ids=['as typed', *LOOKALIKES])
def test_every_lookalike_folds_to_the_key_of_dave(nickname):
    assert fold_nickname(nickname) == fold_nickname('Dave') == 'dave'


@pytest.mark.parametrize(
    ('one', 'other'),
    [('dave', 'dove'), ('dave', 'daves'), ('dave', 'da ve'), ('Zoë', 'Zoe'), ('丁', '七')],
)
def test_nicknames_that_read_differently_have_different_keys(one, other):
    assert fold_nickname(one) != fold_nickname(other)


@pytest.mark.parametrize(
    'nickname', ['Dave', 'd0ve', 'dame', '\ufdfa', 'İstanbul', 'Straße', '❤️', *LOOKALIKES.values()]
)
def test_the_key_of_a_key_is_itself(nickname):
    key = fold_nickname(nickname)

    assert fold_nickname(key) == key


def test_the_longest_nickname_has_a_key_that_fits_its_column():
    # U+FDFA folds to more characters than any other.
    assert len(fold_nickname('\ufdfa' * LONGEST_NICKNAME)) <= LONGEST_KEY


@pytest.mark.parametrize('nickname', REFUSED.values(), ids=REFUSED)
def test_invisible_and_control_characters_are_found(nickname):
    assert find_refused_character(nickname) is not None


@pytest.mark.parametrize('nickname', ['Dave', 'Zoë', 'Ana María', '丁七', 'Дейв', '❤️', 'فارس', 'd\u0301'])
def test_visible_characters_are_not_refused(nickname):
    assert find_refused_character(nickname) is None


@pytest.mark.parametrize('lookalike', VISIBLE_LOOKALIKES.values(), ids=VISIBLE_LOOKALIKES)
def test_registering_a_lookalike_of_a_taken_nickname_is_a_400(client, lookalike):
    assert register(client, 'Dave').status_code == 201

    response = register(client, lookalike, 'another password')

    assert response.status_code == 400
    assert response.json['error'] == 'bad request'
    assert 'taken' in response.json['message']
    assert "'Dave'" in response.json['message']  # the nickname it reads the same as
    assert [user['nickname'] for user in client.get('/api/users').json['users']] == ['Dave']


def test_registering_a_lookalike_with_a_zero_width_space_is_a_400_naming_the_field(client):
    assert register(client, 'Dave').status_code == 201

    response = register(client, ZERO_WIDTH_LOOKALIKE, 'another password')

    assert response.status_code == 400
    assert 'U+200B ZERO WIDTH SPACE' in response.json['detail']['json']['nickname'][0]
    assert [user['nickname'] for user in client.get('/api/users').json['users']] == ['Dave']


def test_registering_the_same_nickname_twice_still_says_it_is_taken(client):
    register(client, 'Dave')

    response = register(client, 'Dave', 'another password')

    assert response.status_code == 400
    assert response.json == {'error': 'bad request', 'message': "The nickname 'Dave' is taken."}


@pytest.mark.parametrize('lookalike', LOOKALIKES.values(), ids=LOOKALIKES)
def test_signing_in_with_a_lookalike_finds_the_account_whose_password_matches(client, lookalike):
    register(client, 'Dave')
    token = sign_in(client, 'Dave').json['token']

    response = sign_in(client, lookalike)

    assert response.status_code == 200
    # A user holding a valid token gets the same token back: the same account.
    assert response.json['token'] == token


@pytest.mark.parametrize('lookalike', LOOKALIKES.values(), ids=LOOKALIKES)
def test_signing_in_with_a_lookalike_and_another_password_is_a_401(client, lookalike):
    register(client, 'Dave')
    register(client, 'susan', 'susans password')

    assert sign_in(client, lookalike, 'wrong password').status_code == 401
    assert sign_in(client, lookalike, 'susans password').status_code == 401


def test_a_nickname_is_shown_as_it_was_typed(client):
    user = register(client, 'ＤａＶｅ').json

    assert user['nickname'] == 'ＤａＶｅ'
    assert client.get(f'/api/users/{user["id"]}').json['nickname'] == 'ＤａＶｅ'
    assert sign_in(client, 'dave').status_code == 200


def test_renaming_to_a_lookalike_of_another_users_nickname_is_a_400(client, accounts):
    accounts.register('Dave')
    susan = accounts.new('susan')

    response = client.put(f'/api/users/{susan.id}', json={'nickname': 'D\u0430ve'}, headers=susan.headers)

    assert response.status_code == 400
    assert response.json['error'] == 'bad request'
    assert 'taken' in response.json['message']
    assert client.get(f'/api/users/{susan.id}').json['nickname'] == 'susan'


def test_renaming_to_a_lookalike_of_your_own_nickname_is_allowed(client, accounts):
    dave = accounts.new('Dave')

    response = client.put(f'/api/users/{dave.id}', json={'nickname': 'DAVE'}, headers=dave.headers)

    assert response.status_code == 204
    assert client.get(f'/api/users/{dave.id}').json['nickname'] == 'DAVE'
    assert sign_in(client, 'dave').status_code == 200


def test_a_renamed_user_signs_in_under_the_new_nickname_and_frees_the_old_one(client, accounts):
    dave = accounts.new('Dave')
    client.put(f'/api/users/{dave.id}', json={'nickname': 'David'}, headers=dave.headers)

    assert sign_in(client, 'DAVID').status_code == 200
    assert sign_in(client, 'dave').status_code == 401
    assert register(client, 'dave').status_code == 201


@pytest.mark.parametrize('nickname', REFUSED.values(), ids=REFUSED)
def test_registering_with_an_invisible_or_control_character_is_a_400_naming_the_field(client, nickname):
    response = register(client, nickname)

    assert response.status_code == 400
    assert response.json['error'] == 'bad request'
    assert 'nickname' in response.json['message']
    assert 'U+' in response.json['detail']['json']['nickname'][0]
    assert client.get('/api/users').json['users'] == []


@pytest.mark.parametrize(
    'nickname', [REFUSED['zero-width space'], REFUSED['right-to-left override'], REFUSED['NUL']]
)
def test_renaming_to_a_nickname_with_an_invisible_or_control_character_is_a_400(client, accounts, nickname):
    susan = accounts.new('susan')

    response = client.put(f'/api/users/{susan.id}', json={'nickname': nickname}, headers=susan.headers)

    assert response.status_code == 400
    assert 'nickname' in response.json['detail']['json']
    assert client.get(f'/api/users/{susan.id}').json['nickname'] == 'susan'


def test_the_message_names_the_refused_character(client):
    response = register(client, '\u202egnp.exe')

    assert response.json['detail']['json']['nickname'] == [
        'Must not contain invisible, control, bidirectional, private-use or unassigned characters; '
        'found U+202E RIGHT-TO-LEFT OVERRIDE.'
    ]


def test_a_variation_selector_is_allowed_and_does_not_make_another_nickname(client):
    assert register(client, '❤️').status_code == 201  # U+2764 U+FE0F, as phones type it

    assert register(client, '❤').status_code == 400
    assert register(client, '\ufe0f').status_code == 400  # nothing visible at all


def test_signing_in_with_a_control_character_in_the_nickname_is_a_401(client):
    register(client, 'Dave')

    assert sign_in(client, 'Da\x00ve').status_code == 401
    assert sign_in(client, 'Dave\x01').status_code == 401


def test_the_database_refuses_two_users_whose_nicknames_fold_alike(app):
    with app.app_context():
        db.session.add(User(nickname='Dave', password_hash='x'))
        db.session.commit()
        db.session.add(User(nickname='D\u0430ve', password_hash='x'))

        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert db.session.query(User.nickname, User.nickname_key).all() == [('Dave', 'dave')]
