// The reconnect storm's clients and poster, run as a process of their own (bench/storm.py).
//
// Started with one JSON argument: {clients, connect_url, reconnect_url,
// post_url, tokens, post_interval_ms, run_id, resync_timeout_s}. It speaks
// JSON lines on stdout and reads commands on stdin:
//
//   -> {"event": "connected", ...}   every client is connected to connect_url
//   <- "post"                        start posting through post_url, open loop
//   -> {"event": "posting"}          the first posts are answered
//   <- "sigterm <epoch ms>"          the runner has just sent SIGTERM to connect_url's process
//   -> {"event": "result", ...}      every client has resynced (or the timeout passed),
//                                    the poster has stopped and the last events are in
//
// Each client behaves as flack/static/js/main.js does: socket.io-client with
// its default reconnection (the manager's backoff: 1 s, randomization 0.5,
// at most 5 s), `ping_user` on every connect and every 20 s, the latest
// `updated_at` it holds remembered on disconnect, and on the next connect a
// read of GET /api/users and /api/messages?updated_since=<that - 30 s> (both or
// neither merged; a 5xx answer is tried again after Retry-After, as main.js does).
// On disconnect it points its manager at reconnect_url: the router would
// send the reconnection to the surviving web process.

import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

import { percentile } from './figures.mjs';

const options = JSON.parse(process.argv[2]);
const CONNECT_BATCH = 50;
const CONNECT_TIMEOUT_MS = 60000;
const PING_INTERVAL_MS = 20000; // main.js
const CATCH_UP_MARGIN_SECONDS = 30; // main.js
const REQUEST_TIMEOUT_MS = 60000;
const SETTLE_TIMEOUT_MS = 30000;
const LINGER_MS = 3000;
// How long the last posts' events may take to reach every client before
// what a client lacks is counted as missed (a busy process delivers late).
const DELIVERY_TIMEOUT_MS = 20000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// As main.js: the seconds asked, and up to half as long again.
const retryDelayMs = (seconds) => seconds * (1 + Math.random() / 2) * 1000;
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const stdin = createInterface({ input: process.stdin });
const lines = [];
const waiting = [];
stdin.on('line', (line) => (waiting.length ? waiting.shift()(line) : lines.push(line)));
const nextLine = () => new Promise((resolve) => (lines.length ? resolve(lines.shift()) : waiting.push(resolve)));

const counts = {
  requests: 0,
  status5xx: 0,
  otherErrors: 0, // 4xx
  failed: 0, // no answer: refused, reset, timed out
  failedReasons: {},
  statuses: {},
};

// One HTTP request, counted; {status, body}, or null if it failed. Over
// node:http with keep-alive and no connect timeout of its own, as a browser's
// fetch (Node's fetch gives up connecting after 10 s); a request fails if
// nothing comes for REQUEST_TIMEOUT_MS.
const agent = new http.Agent({ keepAlive: true });
function request(url, { method = 'GET', headers = {}, body } = {}) {
  counts.requests += 1;
  return new Promise((resolve) => {
    const failed = (error) => {
      counts.failed += 1;
      const reason = (error && (error.code || error.name)) || 'unknown';
      counts.failedReasons[reason] = (counts.failedReasons[reason] || 0) + 1;
      resolve(null);
    };
    const sending = http.request(url, { method, headers, agent, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', failed);
      response.on('end', () => {
        const status = response.statusCode;
        counts.statuses[status] = (counts.statuses[status] || 0) + 1;
        if (status >= 500) counts.status5xx += 1;
        else if (status >= 400) counts.otherErrors += 1;
        resolve({ status, headers: response.headers, body: Buffer.concat(chunks).toString() });
      });
    });
    sending.on('timeout', () => sending.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    sending.on('error', failed);
    sending.end(body);
  });
}

let sigtermAt = null; // epoch ms
let initialLatest = 0; // the latest change of the page the browser loads first

class Client {
  constructor(number) {
    this.token = options.tokens[number % options.tokens.length];
    this.messages = new Map(); // id -> updated_at
    this.heardOnSocket = new Set(); // `${id}:${updated_at}` heard over the socket
    this.duplicates = 0;
    this.lastSeen = null;
    this.connected = false;
    this.everConnected = false;
    this.disconnects = 0;
    this.connectErrors = 0;
    this.stormDisconnectedAt = null; // first disconnect after SIGTERM (epoch ms)
    this.stormReconnectedAt = null;
    this.resyncedAt = null; // first successful catch-up after SIGTERM
    this.resyncFailures = 0;
    this.resyncing = false;
    this.pingTimer = null;
    this.socket = io(options.connect_url, {
      transports: ['websocket'],
      forceNew: true, // a manager (and a connection) per client, as one per browser
      auth: { token: this.token },
    });
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('disconnect', (reason) => this.onDisconnect(reason));
    this.socket.on('connect_error', () => {
      this.connectErrors += 1;
      // As main.js: a refused connection (a server too busy to check the
      // token) is tried again after 5 s, spread by up to half.
      if (!this.socket.active && !stopping) {
        setTimeout(() => {
          if (!this.socket.connected && !stopping) this.socket.connect();
        }, retryDelayMs(5));
      }
    });
    this.socket.on('updated_model', (event) => {
      if (!event || event.class !== 'Message' || !event.model) return;
      const key = `${event.model.id}:${event.model.updated_at}`;
      if (this.heardOnSocket.has(key)) this.duplicates += 1;
      this.heardOnSocket.add(key);
      this.update(event.model);
    });
  }

  update(message) {
    const known = this.messages.get(message.id);
    if (known === undefined || known <= message.updated_at) this.messages.set(message.id, message.updated_at);
  }

  latestChange() {
    let latest = initialLatest;
    for (const updated of this.messages.values()) latest = Math.max(latest, updated);
    return latest;
  }

  onConnect() {
    this.connected = true;
    this.everConnected = true;
    if (sigtermAt !== null && this.stormReconnectedAt === null && this.stormDisconnectedAt !== null) {
      this.stormReconnectedAt = Date.now();
    }
    this.socket.emit('ping_user', this.token);
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.socket.emit('ping_user', this.token), PING_INTERVAL_MS);
    if (this.lastSeen !== null) this.catchUp(Math.max(0, this.lastSeen - CATCH_UP_MARGIN_SECONDS));
  }

  onDisconnect(reason) {
    this.connected = false;
    this.disconnects += 1;
    reasons[reason] = (reasons[reason] || 0) + 1;
    if (sigtermAt !== null && this.stormDisconnectedAt === null) this.stormDisconnectedAt = Date.now();
    this.lastSeen = this.latestChange();
    clearInterval(this.pingTimer);
    if (stopping) return;
    // The router sends the next connection to a web process that is up.
    this.socket.io.uri = options.reconnect_url;
    if (reason === 'io server disconnect') this.socket.connect(); // main.js: the server closed us, come back
  }

  // As main.js: a 5xx answer (a busy server's 503) is tried again after its
  // Retry-After (5 s if none), spread by up to half, while connected.
  async catchUp(since) {
    this.resyncing = true;
    const headers = { Authorization: `Bearer ${this.token}` };
    for (;;) {
      const [users, messages] = await Promise.all([
        request(`${options.reconnect_url}/api/users?updated_since=${since}`, { headers }),
        request(`${options.reconnect_url}/api/messages?updated_since=${since}`, { headers }),
      ]);
      if (users && messages && users.status === 200 && messages.status === 200) {
        for (const message of JSON.parse(messages.body).messages) this.update(message);
        if (sigtermAt !== null && this.resyncedAt === null) this.resyncedAt = Date.now();
        break;
      }
      this.resyncFailures += 1;
      const busy = [users, messages].find((answer) => answer && answer.status >= 500);
      if (!busy || !this.connected) break;
      await sleep(retryDelayMs(Number.parseInt(busy.headers['retry-after'], 10) || 5));
      if (!this.connected) break;
    }
    this.resyncing = false;
  }

  // Nothing more to wait for: caught up since the storm, or its one catch-up failed, and connected.
  settled() {
    if (!this.everConnected) return true;
    return this.connected && !this.resyncing && (this.resyncedAt !== null || this.resyncFailures > 0);
  }
}

const reasons = {};
let stopping = false;

// The poster: one POST every post_interval_ms whatever the answers take (open loop).
const posted = []; // ids answered 201
const postsInFlight = new Set();
let postsSent = 0;
let postsFailed = 0;
let postTimer = null;

function postOne() {
  const number = postsSent++;
  const token = options.tokens[number % options.tokens.length];
  const body = Buffer.from(JSON.stringify({ source: `storm-${options.run_id}-${number}` }));
  const headers = { 'Content-Type': 'application/json', 'Content-Length': body.length, Authorization: `Bearer ${token}` };
  const sending = request(`${options.post_url}/api/messages`, { method: 'POST', headers, body }).then((answer) => {
    if (answer && answer.status === 201) posted.push(JSON.parse(answer.body).id);
    else postsFailed += 1;
  });
  postsInFlight.add(sending);
  sending.finally(() => postsInFlight.delete(sending));
}

async function waitFor(condition, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await sleep(50);
  return condition();
}

const seconds = (ms) => (ms === null ? null : Math.round(ms) / 1000);

// --- The run ---

const first = await request(`${options.connect_url}/api/messages`);
if (first && first.status === 200) {
  for (const message of JSON.parse(first.body).messages) initialLatest = Math.max(initialLatest, message.updated_at);
}
// Only the storm's requests are counted.
Object.assign(counts, { requests: 0, status5xx: 0, otherErrors: 0, failed: 0, failedReasons: {}, statuses: {} });
const clients = [];
for (let start = 0; start < options.clients; start += CONNECT_BATCH) {
  const batch = [];
  for (let i = start; i < Math.min(options.clients, start + CONNECT_BATCH); i++) batch.push(new Client(i));
  clients.push(...batch);
  await waitFor(() => batch.every((client) => client.connected), CONNECT_TIMEOUT_MS);
}
say({ event: 'connected', clients: clients.length, connected: clients.filter((c) => c.connected).length });

await nextLine(); // "post"
postOne();
postTimer = setInterval(postOne, options.post_interval_ms);
await waitFor(() => posted.length >= 3, 10000);
say({ event: 'posting', posted: posted.length });

const command = await nextLine(); // "sigterm <epoch ms>"
sigtermAt = Number(command.split(' ')[1]);
// How late this process's own timers ran during the storm: its timings are no better than that.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const inStorm = clients.filter((client) => client.everConnected);
const allSettled = await waitFor(
  () => inStorm.every((client) => client.settled()),
  options.resync_timeout_s * 1000,
);
clearInterval(postTimer);
loopDelay.disable();
await Promise.all([...postsInFlight]);
// A client cut off again meanwhile comes back and reads what it missed before it is checked.
await waitFor(() => inStorm.every((client) => client.settled()), SETTLE_TIMEOUT_MS);
await sleep(LINGER_MS);
const lacksNothing = (client) => posted.every((id) => client.messages.has(id));
const deliveredBy = Date.now();
await waitFor(() => inStorm.every(lacksNothing), DELIVERY_TIMEOUT_MS);
const lateDeliverySeconds = seconds(Date.now() - deliveredBy);

const resynced = inStorm.filter((client) => client.resyncedAt !== null);
const perClient = Float64Array.from(
  resynced.filter((c) => c.stormDisconnectedAt !== null).map((c) => c.resyncedAt - c.stormDisconnectedAt),
).sort();
const reconnectTimes = Float64Array.from(
  inStorm
    .filter((c) => c.stormDisconnectedAt !== null && c.stormReconnectedAt !== null)
    .map((c) => c.stormReconnectedAt - c.stormDisconnectedAt),
).sort();
const disconnectTimes = Float64Array.from(
  inStorm.filter((c) => c.stormDisconnectedAt !== null).map((c) => c.stormDisconnectedAt - sigtermAt),
).sort();
const lastResync = resynced.length ? Math.max(...resynced.map((c) => c.resyncedAt)) : null;
const disconnectedAt = inStorm.filter((c) => c.stormDisconnectedAt !== null).map((c) => c.stormDisconnectedAt);
const reconnectedAt = inStorm.filter((c) => c.stormReconnectedAt !== null).map((c) => c.stormReconnectedAt);
let missed = 0;
let clientsMissing = 0;
const missedIds = new Set();
for (const client of inStorm) {
  let lacking = 0;
  for (const id of posted) {
    if (!client.messages.has(id)) {
      lacking += 1;
      missedIds.add(id);
    }
  }
  missed += lacking;
  if (lacking) clientsMissing += 1;
}
stopping = true;
say({
  event: 'result',
  clients: clients.length,
  connected: inStorm.length,
  disconnected: disconnectedAt.length,
  reconnected: reconnectedAt.length,
  resynced: resynced.length,
  all_resynced: allSettled && resynced.length === inStorm.length,
  resync_failed_clients: inStorm.filter((c) => c.resyncedAt === null && c.resyncFailures > 0).length,
  disconnect_p50_s: seconds(percentile(disconnectTimes, 50)),
  last_disconnect_s: disconnectedAt.length ? seconds(Math.max(...disconnectedAt) - sigtermAt) : null,
  last_reconnect_s: reconnectedAt.length ? seconds(Math.max(...reconnectedAt) - sigtermAt) : null,
  last_resync_s: lastResync === null ? null : seconds(lastResync - sigtermAt),
  resync_p50_s: seconds(percentile(perClient, 50)),
  resync_p99_s: seconds(percentile(perClient, 99)),
  resync_max_s: seconds(perClient.length ? perClient[perClient.length - 1] : null),
  reconnect_p50_s: seconds(percentile(reconnectTimes, 50)),
  reconnect_p99_s: seconds(percentile(reconnectTimes, 99)),
  http_requests: counts.requests,
  http_5xx: counts.status5xx,
  http_4xx: counts.otherErrors,
  failed_requests: counts.failed,
  failed_reasons: counts.failedReasons,
  http_statuses: counts.statuses,
  posts_sent: postsSent,
  messages_posted: posted.length,
  failed_posts: postsFailed,
  messages_missed: missed,
  // Beyond the linger, how long the last events took to reach every client.
  late_delivery_s: lateDeliverySeconds,
  clients_missing: clientsMissing,
  missed_ids: [...missedIds].sort((a, b) => a - b).slice(0, 20),
  duplicated: inStorm.reduce((sum, c) => sum + c.duplicates, 0),
  disconnects: inStorm.reduce((sum, c) => sum + c.disconnects, 0),
  connect_errors: inStorm.reduce((sum, c) => sum + c.connectErrors, 0),
  disconnect_reasons: reasons,
  node_loop_delay_p99_ms: Math.round(loopDelay.percentile(99) / 1e6),
  node_loop_delay_max_ms: Math.round(loopDelay.max / 1e6),
});
for (const client of clients) {
  clearInterval(client.pingTimer);
  client.socket.close();
}
stdin.close();
setTimeout(() => process.exit(0), 500);
