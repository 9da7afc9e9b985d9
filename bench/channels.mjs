// Load for the channels benchmark (bench/channels.py), run as a process of its own.
//
// Started with one JSON argument, its options: `urls`, the web processes,
// and `run_id`. Its first line on stdin is the users, a JSON list of
// `{"token": ..., "channels": [ids]}`: each user's token and the channels it
// is a member of, general included. One client per user, signed in with
// its token, client i on urls[i % urls.length]; each is browser-like, as
// load.mjs's are by default (socket.io-client's defaults: permessage-deflate
// offered as Chromium does). It then prints JSON lines and takes commands,
// one a line, on stdin:
//
// - {"event": "connected", ...} once every client is connected and the User
//   events of their coming online have died down;
// - `post <channel id> <count>`: that many messages posted in the channel,
//   one at a time, each by one of its members through
//   POST /api/channels/<id>/messages on the web processes in turn, the next
//   once every member has the last (or it timed out); {"event": "posted"};
// - `result`: {"event": "result", ...}, for each channel posted in, who got
//   what; then it closes its clients and ends.
//
// Every client counts each message of the run it hears; posts and
// deliveries are timed on one clock, in this process.

import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';

import { deflating, summary } from './figures.mjs';

const options = JSON.parse(process.argv[2]);
const CONNECT_BATCH = 50;
const CONNECT_TIMEOUT_MS = 30000;
const DELIVERY_TIMEOUT_MS = 10000;
// Each client coming online is a User event to every client connected:
// they have died down once none came for this long.
const QUIET_MS = 2000;
const SETTLE_TIMEOUT_MS = 300000;
const LINGER_MS = 2000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
// The next line on stdin, or null once it is closed (the runner is gone).
const nextLine = async () => {
  const { value, done } = await lines.next();
  return done ? null : value;
};

// Each message's source names its channel and its number in the run.
const prefix = `bench-${options.run_id}-`;
const messages = new Map(); // number -> {channel, sentAt, stored, reached, lastAt}
let lastEventAt = performance.now();
let userEvents = 0;
let disconnected = 0;

// What one client hears: the messages of the run, each counted; `reached`
// counts the members that have a message, `lastAt` when the last got it.
function listen(client) {
  client.socket.on('updated_model', (event) => {
    const now = performance.now();
    lastEventAt = now;
    if (event && event.class === 'User') userEvents += 1;
    const source = event && event.class === 'Message' && event.model && event.model.source;
    if (typeof source !== 'string' || !source.startsWith(prefix)) return;
    const number = Number(source.slice(source.lastIndexOf('-') + 1));
    const count = (client.heard.get(number) || 0) + 1;
    client.heard.set(number, count);
    const message = messages.get(number);
    if (count === 1 && message && client.channels.has(message.channel)) {
      message.reached += 1;
      message.lastAt = now;
    }
  });
  client.socket.on('disconnect', () => (disconnected += 1));
}

// A client of `user` on `url`, listening from the start; `connected` once it is in.
function connect(url, user) {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
    auth: { token: user.token },
  });
  const client = { socket, token: user.token, channels: new Set(user.channels), heard: new Map() };
  listen(client);
  client.connected = new Promise((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('connect_error', () => resolve(false));
  });
  return client;
}

async function connectAll(users) {
  const clients = [];
  for (let first = 0; first < users.length; first += CONNECT_BATCH) {
    const batch = users
      .slice(first, first + CONNECT_BATCH)
      .map((user, offset) => connect(options.urls[(first + offset) % options.urls.length], user));
    await Promise.all(batch.map((client) => client.connected));
    clients.push(...batch);
  }
  return clients;
}

async function settle() {
  const started = performance.now();
  while (performance.now() - lastEventAt < QUIET_MS && performance.now() - started < SETTLE_TIMEOUT_MS) {
    await sleep(100);
  }
}

async function post(url, channel, token, source) {
  try {
    const response = await fetch(`${url}/api/channels/${channel}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ source }),
    });
    await response.arrayBuffer();
    return response.status === 201;
  } catch {
    return false; // the connection failed
  }
}

let nextNumber = 0;

async function postMany(members, channel, count) {
  const started = performance.now();
  let failed = 0;
  for (let i = 0; i < count; i++) {
    const number = nextNumber++;
    const poster = members[number % members.length];
    const message = { channel, sentAt: performance.now(), stored: false, reached: 0, lastAt: null };
    messages.set(number, message);
    const url = options.urls[number % options.urls.length];
    message.stored = await post(url, channel, poster.token, `${prefix}${channel}-${number}`);
    if (!message.stored) {
      failed += 1;
      continue;
    }
    while (message.reached < members.length && performance.now() - message.sentAt < DELIVERY_TIMEOUT_MS) {
      await sleep(1);
    }
  }
  const seconds = Math.round(performance.now() - started) / 1000;
  say({ event: 'posted', channel, posts: count, failed_posts: failed, seconds });
}

// For each channel posted in: lost (a member without a message that was
// stored), duplicated (a message heard again by a client), misdelivered
// (heard by a client that is not a member), and the time from each post to
// its last member's delivery, for the messages that reached every member.
function tally(membersOf) {
  const channels = {};
  const of = (channel) =>
    (channels[channel] ||= {
      members: membersOf(channel).length,
      posts: 0,
      failed_posts: 0,
      lost: 0,
      duplicated: 0,
      misdelivered: 0,
      latencies: [],
    });
  for (const message of messages.values()) {
    const figures = of(message.channel);
    figures.posts += 1;
    if (!message.stored) {
      figures.failed_posts += 1;
      continue;
    }
    figures.lost += figures.members - message.reached;
    if (message.reached === figures.members) figures.latencies.push(message.lastAt - message.sentAt);
  }
  for (const client of clients) {
    for (const [number, count] of client.heard) {
      const message = messages.get(number);
      if (!message) continue;
      const figures = of(message.channel);
      if (client.channels.has(message.channel)) figures.duplicated += count - 1;
      else figures.misdelivered += count;
    }
  }
  for (const figures of Object.values(channels)) {
    Object.assign(figures, summary(figures.latencies));
    delete figures.latencies;
  }
  return channels;
}

const users = JSON.parse(await nextLine());
const connectStarted = performance.now();
const clients = await connectAll(users);
const settleStarted = performance.now();
await settle();
const secondsBetween = (from, to) => Math.round((to - from) / 100) / 10;
const connected = clients.filter((client) => client.socket.connected);
const membersByChannel = new Map();
for (const client of clients) {
  for (const channel of client.channels) {
    if (!membersByChannel.has(channel)) membersByChannel.set(channel, []);
    membersByChannel.get(channel).push(client);
  }
}
const membersOf = (channel) => membersByChannel.get(channel) || [];
say({
  event: 'connected',
  clients: clients.length,
  connected: connected.length,
  deflate_negotiated: connected.filter((client) => deflating(client.socket)).length,
  connect_s: secondsBetween(connectStarted, settleStarted),
  settle_s: secondsBetween(settleStarted, performance.now()),
  user_events: userEvents,
});
for (let line = await nextLine(); line !== null; line = await nextLine()) {
  const [command, ...args] = line.trim().split(/\s+/);
  if (command === 'post') {
    const channel = Number(args[0]);
    await postMany(membersOf(channel), channel, Number(args[1]));
  } else if (command === 'result') {
    await sleep(LINGER_MS);
    say({ event: 'result', disconnected, channels: tally(membersOf) });
    break;
  }
}
for (const client of clients) client.socket.close();
stdin.close();
