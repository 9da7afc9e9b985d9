// Flack's browser client: wires the session, the lists, the chart and Socket.IO.
import { ApiError, request } from './api.js';
import { MessageList } from './messages.js';
import { revalidate, signIn, signOut, storedSession } from './session.js';
import { StatsChart } from './stats.js';
import { UserList } from './users.js';

// Well inside the server's presence timeout (60 s by default).
const PING_INTERVAL_MS = 20000;
// When to try again after a refused connection, or a 5xx answer to a
// catch-up read that does not say (the server's Retry-After).
const RETRY_SECONDS = 5;
// How far back a catch-up reads before the last change this client saw. A
// change is stamped (updated_at) by the database as it is written, and may be
// committed, so readable, a little after changes stamped later: at most 10 s
// after, as the server has PostgreSQL end a transaction left open longer. A
// read from the last change alone could miss it. What is read twice is
// merged by id and version.
const CATCH_UP_MARGIN_SECONDS = 30;

const page = {
  signInSection: document.getElementById('sign-in'),
  signInForm: document.getElementById('sign-in-form'),
  signInError: document.getElementById('sign-in-error'),
  chat: document.getElementById('chat'),
  who: document.getElementById('who'),
  me: document.getElementById('me'),
  signOutButton: document.getElementById('sign-out'),
  connection: document.getElementById('connection'),
  source: document.getElementById('source'),
  postError: document.getElementById('post-error'),
};

let session = null;
let socket = null;
let pingTimer = null;

const authorized = (method, path, options = {}) => request(method, path, { ...options, token: session && session.token });
const users = new UserList(document.getElementById('users'));
const messages = new MessageList(document.getElementById('messages'), {
  users,
  request: authorized,
  me: () => session,
});
const chart = new StatsChart(document.getElementById('stats-line'), document.getElementById('stats-value'));

function showConnection(state) {
  page.connection.dataset.state = state;
  page.connection.textContent = state;
}

function showSignIn(message = '') {
  page.chat.hidden = true;
  page.who.hidden = true;
  page.signOutButton.hidden = true;
  page.signInSection.hidden = false;
  page.signInError.textContent = message;
  showConnection('offline');
}

async function showChat() {
  page.signInSection.hidden = true;
  page.chat.hidden = false;
  page.who.hidden = false;
  page.signOutButton.hidden = false;
  page.me.textContent = session.nickname;
  const { users: everyone } = await authorized('GET', '/api/users');
  everyone.forEach((user) => users.update(user));
  await messages.loadLatest();
  chart.start();
  connect();
  page.source.focus();
}

// What changed while the connection was down, read again when it is back.
async function catchUp(since) {
  const [{ users: changedUsers }, { messages: changedMessages }] = await Promise.all([
    authorized('GET', `/api/users?updated_since=${since}`),
    authorized('GET', `/api/messages?updated_since=${since}`),
  ]);
  changedUsers.forEach((user) => users.update(user));
  messages.addAll(changedMessages);
}

// After a restart every client comes back at once: each waits the seconds
// asked, and up to half as long again, so that they do not return together.
const retryDelayMs = (seconds) => seconds * (1 + Math.random() / 2) * 1000;

// After a restart every client catches up at once, and a busy server may
// answer 503: try again when it says (Retry-After), while this connection lasts.
async function catchUpUntilDone(since, connection) {
  for (;;) {
    try {
      await catchUp(since);
      return;
    } catch (error) {
      if (!(error instanceof ApiError) || error.status < 500) return;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(error.retryAfter ?? RETRY_SECONDS)));
      if (socket !== connection || !connection.connected) return; // the next connect catches up
    }
  }
}

function connect() {
  let lastSeen = null;
  socket = io({ transports: ['websocket', 'polling'], auth: { token: session.token } });
  socket.on('connect', () => {
    showConnection('connected');
    socket.emit('ping_user', session.token);
    clearInterval(pingTimer);
    pingTimer = setInterval(() => socket.emit('ping_user', session.token), PING_INTERVAL_MS);
    if (lastSeen !== null) catchUpUntilDone(Math.max(0, lastSeen - CATCH_UP_MARGIN_SECONDS), socket);
  });
  socket.on('disconnect', (reason) => {
    lastSeen = messages.latestChange();
    clearInterval(pingTimer);
    if (reason === 'io server disconnect') socket.connect(); // the server closed us: come back
    showConnection('reconnecting');
  });
  socket.on('connect_error', async () => {
    showConnection('reconnecting');
    // A refused token means the session ended elsewhere (signed out, password changed).
    if (session && !(await revalidate(session).catch(() => session))) {
      endSession('Your session has ended. Sign in again.');
      return;
    }
    // A server too busy to check the token (a reconnect storm) refuses the
    // connection, and socket.io-client does not come back by itself.
    const refused = socket;
    if (refused && !refused.active) {
      setTimeout(() => {
        if (socket === refused && !refused.connected) refused.connect();
      }, retryDelayMs(RETRY_SECONDS));
    }
  });
  socket.on('updated_model', ({ class: kind, model }) => {
    if (kind === 'User') users.update(model);
    // This page shows general, whose messages name no channel; a user's
    // connection also hears the other channels they are a member of.
    if (kind === 'Message' && model.channel_id === undefined) messages.update(model);
  });
}

function endSession(message = '') {
  clearInterval(pingTimer);
  if (socket) socket.disconnect();
  socket = null;
  chart.stop();
  messages.clear();
  session = null;
  showSignIn(message);
}

page.signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  page.signInError.textContent = '';
  const nickname = page.signInForm.nickname.value;
  const password = page.signInForm.password.value;
  try {
    session = await signIn(nickname, password);
    page.signInForm.reset();
    await showChat();
  } catch (error) {
    session = null;
    page.signInError.textContent = error.message;
  }
});

page.signOutButton.addEventListener('click', async () => {
  const ending = session;
  endSession();
  await signOut(ending);
});

page.source.addEventListener('keydown', async (event) => {
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  const source = page.source.value;
  if (!source.trim()) return;
  try {
    const message = await authorized('POST', '/api/messages', { body: { source } });
    page.source.value = '';
    page.postError.textContent = '';
    messages.updateFromAnswer(message);
  } catch (error) {
    page.postError.textContent = error.message;
  }
});

async function start() {
  const stored = storedSession();
  session = stored && (await revalidate(stored));
  if (session) await showChat();
  else showSignIn();
}

start();
