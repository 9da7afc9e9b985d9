"""Users: register, list, read, change."""

from .. import accounts, moderation
from ..auth import authorize, token_auth
from ..extensions import db
from ..models import User
from ..schemas import NewUser, UserChanges, UserList, UserOut, UserQuery
from . import OPTIONAL_TOKEN, bp, json_response


@bp.post('/users')
@bp.input(NewUser, arg_name='fields')
@bp.output(UserOut, status_code=201, description='The new user; Location has its URL')
@bp.doc(
    responses={
        400: 'Missing field, bad nickname or password, or nickname taken',
        413: 'Body larger than the server accepts',
        429: 'Too many registrations from this address; Retry-After says when to try again',
    }
)
def new_user(fields):
    """Register a user."""
    user = accounts.register(fields['nickname'], fields['password'])
    return user, 201, {'Location': f'/api/users/{user.id}'}


@bp.get('/users')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.input(UserQuery, location='query', arg_name='query')
@bp.output(UserList)
def get_users(query):
    """List users, by time of last change, then nickname."""
    # Serialized by accounts, once per change to the users (a cache).
    return json_response(accounts.listing_json(**query))


@bp.get('/users/<int:id>')
@bp.auth_required(token_auth, optional=True)
@bp.doc(security=OPTIONAL_TOKEN)
@bp.output(UserOut)
def get_user(id):
    """Read a user."""
    return db.get_or_404(User, id)


@bp.put('/users/<int:id>')
@bp.auth_required(token_auth)
@authorize(accounts.find_changeable_account)  # before the body is read: a 403 says nothing of it
@bp.input(UserChanges, arg_name='fields')
@bp.output({}, status_code=204)
@bp.doc(
    responses={
        400: 'Bad field or nickname taken',
        403: 'Another user',
        404: 'No such user',
        413: 'Body larger than the server accepts',
    }
)
def edit_user(user, fields):
    """Change your nickname or password. A new password revokes your token."""
    accounts.change(user, **fields)
    return ''


@bp.put('/users/<int:id>/suspension')
@bp.auth_required(token_auth)
@authorize(moderation.suspendable_user)
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Not an administrator, or the user is one', 404: 'No such user'})
def suspend_user(user):
    """Suspend a user (administrators): their token stops working, their
    connections close, and signing in is refused until they are reinstated."""
    moderation.suspend(token_auth.current_user, user)
    return ''


@bp.delete('/users/<int:id>/suspension')
@bp.auth_required(token_auth)
@authorize(moderation.suspendable_user)
@bp.output({}, status_code=204)
@bp.doc(responses={403: 'Not an administrator, or the user is one', 404: 'No such user'})
def reinstate_user(user):
    """Lift a user's suspension (administrators): they may sign in again."""
    moderation.reinstate(token_auth.current_user, user)
    return ''
