// Load for the fan-out and write benchmarks, run as a process of its own.
//
// Started by bench/measure.py with one JSON argument (its options). It
// prints JSON lines: {"event": "connected"} once every client is connected
// (then waits for a line on stdin, so that the runner can read the server's
// memory), and {"event": "result", ...} with the figures at the end; with
// `hold`, the clients then stay connected until one more line on stdin (the
// server's memory after the rounds). Posts and deliveries are timed on one
// clock, in this process.
//
// The kind of client, `compression` (true unless false): true is
// socket.io-client's default, a browser's. engine.io-client passes
// `perMessageDeflate: { threshold: 1024 }` to `ws`, which then offers
// `permessage-deflate; client_max_window_bits` in its handshake, as Chromium
// does: context takeover both ways, the server's window its own choice (15
// bits unless it says less), and the client's sends under 1 KiB left
// uncompressed. false gives `perMessageDeflate: false`: no extension offered,
// as a typical Python client (python-socketio's websocket-client) connects.
// Each result says how many clients the server agreed to deflate with.

import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';

import { deflating, summary } from './figures.mjs';

const options = JSON.parse(process.argv[2]);
const CONNECT_BATCH = 50;
const DELIVERY_TIMEOUT_MS = 20000;
const LINGER_MS = 2000;
// Untimed rounds of posts before a write run (option `warm_up_rounds`).
const WARM_UP_ROUNDS = options.warm_up_rounds ?? 50;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const stdin = createInterface({ input: process.stdin });
let stdinOpen = true;
stdin.once('close', () => (stdinOpen = false));
// The next line on stdin, or nothing once it is closed (the runner is gone).
const nextLine = () =>
  stdinOpen
    ? new Promise((resolve) => {
        stdin.once('line', resolve);
        stdin.once('close', resolve);
      })
    : Promise.resolve();
const compression = options.compression !== false;

// Every message carries its number; one record per message tells who got it.
const prefix = `bench-${options.run_id}-`;
const sentAt = new Map();
const heard = new Map(); // number -> count of first deliveries
const latencies = [];
let duplicates = 0;

function listen(socket) {
  const seen = new Set();
  socket.on('updated_model', (event) => {
    const now = performance.now();
    const source = event && event.model && event.model.source;
    if (event.class !== 'Message' || typeof source !== 'string' || !source.startsWith(prefix)) return;
    const number = Number(source.slice(prefix.length));
    if (seen.has(number)) {
      duplicates += 1;
      return;
    }
    seen.add(number);
    heard.set(number, (heard.get(number) || 0) + 1);
    if (sentAt.has(number)) latencies.push(now - sentAt.get(number));
  });
}

function connect(url, token) {
  return new Promise((resolve) => {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 30000,
      auth: token ? { token } : undefined,
      // Left out for the browser's kind, so that the library's default stands.
      ...(compression ? {} : { perMessageDeflate: false }),
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', () => resolve(null));
  });
}

// Bytes this client's TCP connection has read so far (frames, headers and
// all), from the net.Socket under `ws`.
function bytesRead(socket) {
  const ws = socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.ws;
  return ws && ws._socket ? ws._socket.bytesRead : 0;
}

const totalBytesRead = (sockets) => sockets.reduce((sum, socket) => sum + bytesRead(socket), 0);

// Clients spread over `urls` in turn (by default, every web process). With
// `stop_on_loss`, connecting stops after the first batch in which a client
// failed: the step has failed, and each batch more could wait out the timeout.
async function connectMany(count, listening, urls = options.urls) {
  const sockets = [];
  for (let first = 0; first < count; first += CONNECT_BATCH) {
    const batch = [];
    for (let i = first; i < Math.min(count, first + CONNECT_BATCH); i++) {
      const url = urls[i % urls.length];
      const token = options.tokens.length ? options.tokens[i % options.tokens.length] : null;
      batch.push(connect(url, token));
    }
    let failed = false;
    for (const socket of await Promise.all(batch)) {
      if (socket === null) {
        failed = true;
        continue;
      }
      if (listening) listen(socket);
      sockets.push(socket);
    }
    if (failed && options.stop_on_loss) break;
  }
  return sockets;
}

// One post: over Socket.IO (the floor's event, or Flack's post_message with
// the poster's token), else over Flack's REST API. Only numbered posts are
// timed and counted.
async function post(number, poster) {
  const source = number === null ? 'warming up' : `${prefix}${number}`;
  if (number !== null) sentAt.set(number, performance.now());
  if (options.app === 'floor' || options.via === 'socketio') {
    const args = options.app === 'floor' ? [{ source }] : [{ source }, poster.token];
    try {
      const answer = await poster.socket.timeout(DELIVERY_TIMEOUT_MS).emitWithAck('post_message', ...args);
      return Boolean(answer && (answer.status === 'ok' || answer.id));
    } catch {
      return false; // no acknowledgement in time
    }
  }
  try {
    const response = await fetch(`${options.post_url}/api/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${poster.token}` },
      body: JSON.stringify({ source }),
    });
    await response.arrayBuffer();
    return response.status === 201;
  } catch {
    return false; // the connection failed
  }
}

async function waitForDeliveries(number, expected) {
  const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
  while ((heard.get(number) || 0) < expected && performance.now() < deadline) await sleep(1);
}

async function fanout() {
  const clients = await connectMany(options.clients, true);
  const [posterSocket] = options.app === 'floor' ? await connectMany(1, false) : [null];
  const negotiated = clients.filter(deflating).length;
  await post(null, { socket: posterSocket, token: options.tokens[0] }); // untimed, as in write()
  await sleep(LINGER_MS);
  say({ event: 'connected', clients: clients.length });
  await nextLine();
  // Several rounds of the same messages; the round with the median p99
  // stands for the run, so that one pause on a busy machine does not.
  // With `stop_on_loss` (the capacity search), the rounds end at the first
  // message some client did not get in time: the step has failed, and each
  // further message would wait out the timeout too.
  let failedPosts = 0;
  let posted = 0;
  let stopped = false;
  const bytesBefore = totalBytesRead(clients);
  const deliveredBefore = latencies.length;
  const rounds = [];
  for (let round = 0; round < options.rounds && !stopped; round++) {
    const first = latencies.length;
    for (let i = 0; i < options.messages; i++) {
      const number = round * options.messages + i;
      const poster = { socket: posterSocket, token: options.tokens[number % options.tokens.length] };
      if (!(await post(number, poster))) failedPosts += 1;
      posted += 1;
      await waitForDeliveries(number, clients.length);
      if (options.stop_on_loss && (heard.get(number) || 0) < clients.length) {
        stopped = true;
        break;
      }
    }
    rounds.push(summary(latencies.slice(first)));
  }
  await sleep(LINGER_MS);
  const delivered = latencies.length - deliveredBefore;
  rounds.sort((a, b) => a.p99_ms - b.p99_ms);
  say({
    event: 'result',
    clients: options.clients,
    connected: clients.length,
    deflate_negotiated: negotiated,
    messages: options.messages,
    rounds: options.rounds,
    rounds_run: rounds.length,
    failed_posts: failedPosts,
    ...rounds[Math.floor(rounds.length / 2)],
    rounds_p99_ms: rounds.map((figures) => figures.p99_ms),
    // A client that did not connect has lost every message posted.
    lost: options.clients * posted - latencies.length,
    duplicated: duplicates,
    // What a client read from the wire per message delivered to it, frames
    // and pings included: what compression (or none) costs in bytes.
    wire_bytes_per_message: delivered ? Math.round((totalBytesRead(clients) - bytesBefore) / delivered) : null,
  });
  if (options.hold) await nextLine();
  return clients.concat(posterSocket ? [posterSocket] : []);
}

// The posters connect to and post through post_url, the listener is on
// listen_url: another web process, for a delivery that crosses the queue.
async function write() {
  const [listener] = await connectMany(1, true, [options.listen_url]);
  const posterSockets = await connectMany(options.posters, false, [options.post_url]);
  // Untimed rounds first, so that neither side is timed while warming up
  // (new HTTP connections, the first runs of the code that posts).
  for (let round = 0; round < WARM_UP_ROUNDS; round++) {
    await Promise.all(
      posterSockets.map((socket, index) =>
        post(null, { socket, token: options.tokens[index % options.tokens.length] }),
      ),
    );
  }
  say({ event: 'connected', clients: posterSockets.length + 1 });
  await nextLine();
  let number = 0;
  let posted = 0;
  let failedPosts = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  await Promise.all(
    posterSockets.map(async (socket, index) => {
      const poster = { socket, token: options.tokens[index % options.tokens.length] };
      while (performance.now() < end) {
        if (await post(number++, poster)) posted += 1;
        else failedPosts += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await sleep(LINGER_MS);
  say({
    event: 'result',
    posters: posterSockets.length,
    seconds: Math.round(elapsed * 100) / 100,
    posts: posted,
    posts_per_second: Math.round((posted / elapsed) * 10) / 10,
    failed_posts: failedPosts,
    ...summary(latencies),
    lost: posted - latencies.length,
    duplicated: duplicates,
  });
  return posterSockets.concat([listener]);
}

const sockets = options.mode === 'fanout' ? await fanout() : await write();
for (const socket of sockets) socket.close();
stdin.close();
