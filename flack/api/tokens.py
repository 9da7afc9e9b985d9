"""Tokens: sign in with nickname and password, sign out."""

from ..accounts import sign_in, sign_out
from ..auth import basic_auth, token_auth
from ..schemas import TokenOut
from . import bp

# A token is a credential: no cache, shared or the browser's, may keep the
# answer that carries it (RFC 6749, 5.1; Pragma for HTTP/1.0 caches).
NO_STORE = {'Cache-Control': 'no-store', 'Pragma': 'no-cache'}


@bp.post('/tokens')
@bp.auth_required(basic_auth)
@bp.output(TokenOut)
@bp.doc(
    responses={
        403: 'The account is suspended (told only with the right password)',
        429: 'Too many sign-ins from this address or for this nickname; see Retry-After',
    }
)
def new_token():
    """Get a token; a user holding a valid one gets the same one back."""
    return {'token': sign_in(basic_auth.current_user)}, 200, NO_STORE


@bp.delete('/tokens')
@bp.auth_required(token_auth)
@bp.output({}, status_code=204)
def revoke_token():
    """Sign out: the token stops working everywhere, Socket.IO included."""
    sign_out(token_auth.current_user)
    return ''
