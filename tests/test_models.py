"""The models: the one "now", a nickname's key kept with it, passwords kept
as hashes, and an edited text's previews fetched afresh."""

import time

from flack.extensions import db
from flack.models import Message, User
from flack.nicknames import fold_nickname
from flack.previews import MOST_PREVIEW_ATTEMPTS


def test_timestamps_are_integer_seconds(client, susan):
    user = client.get(f'/api/users/{susan.id}').json

    assert abs(user['created_at'] - time.time()) < 5


def test_a_nickname_however_it_is_set_keeps_its_key(app, susan):
    with app.app_context():
        user = db.session.get(User, susan.id)
        user.nickname = 'Ｓｕｓａｎ２'  # fullwidth

        assert user.nickname_key == fold_nickname('susan2')


def test_a_password_is_kept_as_a_hash_that_checks_it():
    user = User(nickname='david')
    user.set_password('correct horse')

    assert 'correct horse' not in user.password_hash
    assert user.check_password('correct horse')
    assert not user.check_password('correct horsE')


def test_an_edited_text_gets_its_preview_attempts_back():
    message = Message(user_id=1, source='see http://a.example')
    message.preview_attempts = MOST_PREVIEW_ATTEMPTS  # its links tried as often as they may be

    message.source = 'see http://b.example instead'

    assert message.preview_attempts == 0
