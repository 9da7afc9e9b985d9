// Flack's browser client: wires the session, the sidebar, the open channel,
// the chart and Socket.IO.
import { ApiError, request } from './api.js';
import { ChannelNav, GENERAL, channelOf } from './channels.js';
import { MessageList } from './messages.js';
import { revalidate, signIn, signOut, storedSession } from './session.js';
import { StatsChart } from './stats.js';
import { UnreadCounts } from './unread.js';
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
// A reader's place is sent to the server this long after the last message
// they saw arrive: one request for a burst of messages, not one each.
const READ_MARK_DELAY_MS = 1000;

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
  menu: document.getElementById('menu'),
  menuUnread: document.getElementById('menu-unread'),
  channelTitle: document.getElementById('channel-title'),
  channelTopic: document.getElementById('channel-topic'),
  leaveButton: document.getElementById('leave-channel'),
  newChannelForm: document.getElementById('new-channel-form'),
  newChannelError: document.getElementById('new-channel-error'),
  sideError: document.getElementById('side-error'),
};

let session = null;
let socket = null;
let pingTimer = null;

const authorized = (method, path, options = {}) => request(method, path, { ...options, token: session && session.token });
const me = () => session;
const users = new UserList(document.getElementById('users'), {
  me,
  actions: {
    talk: (user) => act(() => talkTo(user)),
    suspend: (user) => act(() => moderate('PUT', user)),
    reinstate: (user) => act(() => moderate('DELETE', user)),
  },
});
const unread = new UnreadCounts({ me, onChange: () => showUnread() });
const nav = new ChannelNav(
  {
    channelList: document.getElementById('channel-list'),
    otherList: document.getElementById('other-channels'),
    noOthers: document.getElementById('no-other-channels'),
    conversationList: document.getElementById('conversation-list'),
  },
  { users, unread, request: authorized, me, act: (action) => act(action), onSelect: (channel) => openChannel(channel) },
);
const messages = new MessageList(document.getElementById('messages'), {
  users,
  request: authorized,
  me,
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
  page.menu.hidden = false;
  page.me.textContent = session.nickname;
  const { users: everyone } = await authorized('GET', '/api/users');
  everyone.forEach((user) => users.update(user));
  await nav.load();
  await nav.select(GENERAL);
  chart.start();
  connect();
  page.source.focus();
}

function showMenu(open) {
  page.chat.dataset.menu = open ? 'open' : 'closed';
  page.menu.setAttribute('aria-expanded', String(open));
}

// The channel or conversation chosen in the sidebar, in the conversation pane.
async function openChannel(channel) {
  showMenu(false); // on a phone, the sidebar folds away to show it
  page.channelTitle.textContent = nav.title(channel);
  page.channelTopic.textContent = channel.topic ?? '';
  page.leaveButton.hidden = channel.direct || channel.id === GENERAL;
  page.postError.textContent = '';
  await messages.show(channel.id);
  markRead();
}

function showUnread() {
  nav.render();
  const total = unread.total();
  page.menuUnread.hidden = total === 0;
  page.menuUnread.textContent = total;
}

const pendingReadMarks = new Map(); // channel id -> { messageId, timer } of its PUT

function sendReadMark(channelId) {
  const { messageId, timer } = pendingReadMarks.get(channelId);
  clearTimeout(timer);
  pendingReadMarks.delete(channelId);
  // keepalive: sent even as the page is being left or reloaded.
  const body = { message_id: messageId };
  authorized('PUT', `/api/channels/${channelId}/read`, { body, keepalive: true }).catch(() => {
    // The next mark, or the next visit, sends it again.
  });
}

// The open channel is read up to its newest message, while the page is seen.
function markRead() {
  if (document.hidden || !session) return;
  const channelId = messages.channelId;
  const newest = messages.newestId();
  const recorded = unread.lastRead(channelId);
  unread.read(channelId, newest);
  if (newest <= recorded) return;
  // The mark only moves forward on the server: the last one sent is the newest.
  clearTimeout(pendingReadMarks.get(channelId)?.timer);
  const timer = setTimeout(() => sendReadMark(channelId), READ_MARK_DELAY_MS);
  pendingReadMarks.set(channelId, { messageId: newest, timer });
}

// A message's event: shown if its channel is open, counted if not.
function heard(message) {
  const channelId = channelOf(message);
  if (channelId === messages.channelId) {
    messages.merge(message);
    if (document.hidden) unread.add(channelId, message);
    else markRead();
  } else if (nav.isOpen(channelId)) {
    unread.add(channelId, message);
  } else {
    // A conversation opened with you, its event not here yet, or a channel
    // you joined on another page.
    nav.learn(channelId).then((yours) => yours && unread.add(channelId, message), () => {});
  }
}

// What changed while the connection was down, read again when it is back.
async function catchUp(since) {
  const [{ users: changedUsers }, { messages: changedMessages }] = await Promise.all([
    authorized('GET', `/api/users?updated_since=${since}`),
    authorized('GET', `${messages.path()}?updated_since=${since}`),
  ]);
  changedUsers.forEach((user) => users.update(user));
  messages.mergeAll(changedMessages);
  await nav.load(); // channels made, conversations opened, unread counts
  if (nav.current !== messages.channelId) await nav.select(nav.current); // the open one was left elsewhere
  else markRead();
}

// The sidebar's actions; what fails is said there.
async function act(action) {
  page.sideError.textContent = '';
  try {
    await action();
  } catch (error) {
    page.sideError.textContent = error.message;
  }
}

async function talkTo(user) {
  const conversation = await authorized('POST', '/api/conversations', { body: { user_id: user.id } });
  nav.update(conversation);
  await nav.select(conversation.id);
}

// Suspend (PUT) or reinstate (DELETE); the user's event redraws them.
async function moderate(method, user) {
  await authorized(method, `/api/users/${user.id}/suspension`);
  users.update(await authorized('GET', `/api/users/${user.id}`));
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

// The newest change this page has seen, by the server's stamps: where a
// catch-up starts (less the margin).
const latestChange = () => Math.max(messages.latestChange(), users.latestChange());

function connect() {
  // What changes between the page's first reads and its connection is read
  // again once connected, as after any reconnect.
  let lastSeen = latestChange();
  socket = io({ transports: ['websocket', 'polling'], auth: { token: session.token } });
  socket.on('connect', () => {
    showConnection('connected');
    socket.emit('ping_user', session.token);
    clearInterval(pingTimer);
    pingTimer = setInterval(() => socket.emit('ping_user', session.token), PING_INTERVAL_MS);
    catchUpUntilDone(Math.max(0, lastSeen - CATCH_UP_MARGIN_SECONDS), socket);
  });
  socket.on('disconnect', (reason) => {
    lastSeen = latestChange();
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
    else if (kind === 'Channel') nav.update(model);
    else if (kind === 'Message') heard(model);
  });
}

function endSession(message = '') {
  clearInterval(pingTimer);
  if (socket) socket.disconnect();
  socket = null;
  chart.stop();
  messages.clear();
  nav.clear();
  users.clear();
  unread.reset([]);
  session = null;
  page.menu.hidden = true;
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
    const message = await authorized('POST', messages.path(), { body: { source } });
    if (page.source.value === source) page.source.value = ''; // not what was typed since
    page.postError.textContent = '';
    if (channelOf(message) === messages.channelId) messages.updateFromAnswer(message);
  } catch (error) {
    page.postError.textContent = error.message;
  }
});

page.newChannelForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  page.newChannelError.textContent = '';
  try {
    const body = { name: page.newChannelForm.name.value };
    const channel = await authorized('POST', '/api/channels', { body });
    page.newChannelForm.reset();
    nav.joined(channel);
    await nav.select(channel.id);
  } catch (error) {
    page.newChannelError.textContent = error.message;
  }
});

page.leaveButton.addEventListener('click', () =>
  act(async () => {
    const channelId = messages.channelId;
    await authorized('DELETE', `/api/channels/${channelId}/members/${session.userId}`);
    await nav.left(channelId);
  }),
);

page.menu.addEventListener('click', () => showMenu(page.chat.dataset.menu !== 'open'));

// Back to a page left in the background: what arrived meanwhile is read now.
// Leaving it (another tab, a reload, closing it): what was read is sent now.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) [...pendingReadMarks.keys()].forEach(sendReadMark);
  else markRead();
});

async function start() {
  const stored = storedSession();
  session = stored && (await revalidate(stored));
  if (session) await showChat();
  else showSignIn();
}

start();
