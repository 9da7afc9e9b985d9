"""flack.channels below the routes: races between requests end with one
channel per name and one conversation per pair of users."""

import threading

from flack import channels
from flack.extensions import db
from flack.models import Channel, Membership, User


def _together(app, calls):
    """Run each of ``calls`` in a thread of its own with its own app context,
    all released at once; their results (or the exceptions they raised)."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            barrier.wait()
            try:
                results[index] = call()
            except Exception as error:  # noqa: BLE001  (the outcome under test)
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _user(user_id):
    return db.session.get(User, user_id)


def test_both_users_opening_their_conversation_at_once_get_one(app, susan, david):
    results = _together(
        app,
        [
            lambda: channels.open_conversation(_user(susan.id), david.id)[0].id,
            lambda: channels.open_conversation(_user(david.id), susan.id)[0].id,
        ],
    )

    assert results[0] == results[1] and isinstance(results[0], int)
    with app.app_context():
        conversations = db.session.scalars(db.select(Channel).where(Channel.direct_key.is_not(None))).all()
        assert [c.id for c in conversations] == [results[0]]
        members = db.session.scalars(db.select(Membership.user_id).where(Membership.channel_id == results[0]))
        assert sorted(members) == sorted([susan.id, david.id])


def test_two_users_making_a_channel_of_one_name_at_once_make_one(app, susan, david):
    results = _together(
        app,
        [
            lambda: channels.create_channel(_user(susan.id), 'random').id,
            lambda: channels.create_channel(_user(david.id), 'RANDOM').id,
        ],
    )

    made = [result for result in results if isinstance(result, int)]
    refused = [result for result in results if not isinstance(result, int)]
    assert len(made) == 1
    assert [error.status_code for error in refused] == [409]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Channel)) == 2  # general and one


def test_joining_twice_at_once_leaves_one_membership(app, susan, david):
    with app.app_context():
        channel_id = channels.create_channel(_user(susan.id), 'random').id

    def join():
        channels.join(_user(david.id), db.session.get(Channel, channel_id))
        return True

    assert _together(app, [join, join]) == [True, True]
    with app.app_context():
        statement = db.select(Membership).where(
            Membership.channel_id == channel_id, Membership.user_id == david.id
        )
        assert len(db.session.scalars(statement).all()) == 1
