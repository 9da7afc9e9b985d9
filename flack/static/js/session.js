// Signing in (or registering), and keeping the session across reloads.
import { ApiError, request } from './api.js';

const STORAGE_KEY = 'flack.session';

export function storedSession() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

function store(session) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function forget() {
  localStorage.removeItem(STORAGE_KEY);
}

async function userNamed(nickname, token) {
  const { users } = await request('GET', '/api/users', { token });
  return users.find((user) => user.nickname === nickname);
}

// One form for both: a known nickname signs in, a new one is registered first.
// Asking who exists first keeps the usual paths free of failed requests.
export async function signIn(nickname, password) {
  const credentials = { nickname, password };
  if (!(await userNamed(nickname))) {
    try {
      await request('POST', '/api/users', { body: { nickname, password } });
    } catch (error) {
      // Registered by someone else meanwhile: try it as a sign-in.
      if (!(error instanceof ApiError && /taken/.test(error.message))) throw error;
    }
  }
  let token;
  try {
    ({ token } = await request('POST', '/api/tokens', { credentials }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw new Error(`Wrong password for ${nickname}.`);
    throw error;
  }
  const user = await userNamed(nickname, token);
  const session = { token, userId: user.id, nickname };
  store(session);
  return session;
}

// A stored token still works: the reload keeps the user signed in.
export async function revalidate(session) {
  try {
    const user = await request('GET', `/api/users/${session.userId}`, { token: session.token });
    return { ...session, nickname: user.nickname };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
      forget();
      return null;
    }
    throw error;
  }
}

export async function signOut(session) {
  forget();
  try {
    await request('DELETE', '/api/tokens', { token: session.token });
  } catch {
    // Signed out here whatever the server says; the token is forgotten.
  }
}
