// The soak's websocket clients, run as a process of their own (bench/soak).
//
// Started with one JSON argument: {clients, urls, tokens}. Each client
// connects to one of the web processes, records every `updated_model`
// event for a message, and when its connection drops comes back to a web
// process that is up (the runner sends the current list as a JSON line
// {"urls": [...]} on stdin, as a router would) and reads what it missed
// with GET /api/messages?updated_since=<last change seen - 1>, as the
// browser client does. On {"stop": true} the clients close; on
// {"check": path} they compare what they hold with the messages listed in
// that file and print one JSON line with the result.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const options = JSON.parse(process.argv[2]);
const CONNECT_TIMEOUT_MS = 20000;
const RESYNC_ATTEMPTS = 20;
const CATCH_UP_MARGIN_SECONDS = 30; // flack/static/js/main.js
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n');
let urls = options.urls;
let stopping = false;
const pick = () => urls[Math.floor(Math.random() * urls.length)];

class Client {
  constructor(number) {
    this.number = number;
    this.token = options.tokens[number % options.tokens.length];
    this.firstConnect = null; // Unix time (s) of the first connection
    this.lastSeen = null; // the latest updated_at heard, kept over a disconnection
    this.heard = new Map(); // message id -> key of the last version heard
    this.connected = false;
    this.deliveries = 0;
    this.duplicates = 0;
    this.reconnects = 0;
    this.resyncs = 0;
    this.resyncFailures = 0;
    this.cutByServer = 0;
  }

  latestChange() {
    let latest = this.lastSeen;
    for (const key of this.heard.values()) {
      const updated = Number(key.split(':')[0]);
      if (latest === null || updated > latest) latest = updated;
    }
    return latest;
  }

  // A version of a message is its updated_at and the length of its html (a
  // preview changes both); the same version heard twice over the socket is a
  // duplicate, whereas one read again after a reconnection is not.
  hear(model, fromSocket) {
    const key = `${model.updated_at}:${(model.html || '').length}`;
    if (fromSocket) {
      this.deliveries += 1;
      if (this.heard.get(model.id) === `${key}:s`) this.duplicates += 1;
    }
    this.heard.set(model.id, `${key}:${fromSocket ? 's' : 'r'}`);
  }

  connect() {
    if (stopping) return;
    const url = pick();
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: CONNECT_TIMEOUT_MS,
      auth: { token: this.token },
    });
    this.socket = socket;
    socket.on('updated_model', (event) => {
      if (event && event.class === 'Message' && event.model) this.hear(event.model, true);
    });
    socket.once('connect', () => {
      this.connected = true;
      if (this.firstConnect === null) this.firstConnect = Date.now() / 1000;
      else this.resync(url, Math.max(0, this.lastSeen - CATCH_UP_MARGIN_SECONDS));
    });
    socket.once('connect_error', () => {
      socket.close();
      if (!stopping) setTimeout(() => this.connect(), 500 + Math.random() * 1000);
    });
    socket.once('disconnect', (reason) => {
      this.connected = false;
      if (stopping) return;
      if (reason === 'io server disconnect') this.cutByServer += 1;
      this.lastSeen = this.latestChange() ?? Math.floor(this.firstConnect);
      this.reconnects += 1;
      socket.close();
      setTimeout(() => this.connect(), 200 + Math.random() * 1000);
    });
  }

  // What changed while the connection was down; retried while the service is away.
  async resync(url, since) {
    for (let attempt = 0; attempt < RESYNC_ATTEMPTS && !stopping; attempt++) {
      try {
        const response = await fetch(`${attempt ? pick() : url}/api/messages?updated_since=${since}`, {
          headers: { Authorization: `Bearer ${this.token}` },
          signal: AbortSignal.timeout(15000),
        });
        if (response.status === 200) {
          const { messages } = await response.json();
          for (const model of messages) this.hear(model, false);
          this.resyncs += 1;
          return;
        }
        await response.arrayBuffer();
      } catch {
        // refused or timed out: a fault; try again
      }
      await sleep(1000);
    }
    this.resyncFailures += 1;
  }
}

// Compares every client with the stored messages: [[id, created_at], ...].
function check(path) {
  const stored = JSON.parse(readFileSync(path, 'utf8'));
  const result = {
    event: 'check',
    clients: clients.length,
    connected: 0,
    never_connected: 0,
    deliveries: 0,
    duplicated: 0,
    reconnects: 0,
    cut_by_server: 0,
    resyncs: 0,
    resync_failures: 0,
    expected: 0,
    lost: 0,
    clients_missing: 0,
    missing_ids: [],
  };
  const missingIds = new Set();
  for (const client of clients) {
    result.deliveries += client.deliveries;
    result.duplicated += client.duplicates;
    result.reconnects += client.reconnects;
    result.cut_by_server += client.cutByServer;
    result.resyncs += client.resyncs;
    result.resync_failures += client.resyncFailures;
    if (client.firstConnect === null) {
      result.never_connected += 1;
      continue;
    }
    if (!client.connected) continue; // gone and not back: nothing owed to it
    result.connected += 1;
    // A message created a whole second after the client joined was sent to it.
    const from = Math.floor(client.firstConnect) + 1;
    let missing = 0;
    for (const [id, createdAt] of stored) {
      if (createdAt < from) continue;
      result.expected += 1;
      if (!client.heard.has(id)) {
        missing += 1;
        missingIds.add(id);
      }
    }
    result.lost += missing;
    if (missing) result.clients_missing += 1;
  }
  result.missing_ids = [...missingIds].sort((a, b) => a - b).slice(0, 50);
  result.missing_distinct = missingIds.size;
  return result;
}

const clients = Array.from({ length: options.clients }, (_, number) => new Client(number));
for (let first = 0; first < clients.length; first += 25) {
  clients.slice(first, first + 25).forEach((client) => client.connect());
  await sleep(200);
}

const stdin = createInterface({ input: process.stdin });
stdin.on('line', (line) => {
  const command = JSON.parse(line);
  if (command.urls) urls = command.urls;
  if (command.status) {
    say({ event: 'status', connected: clients.filter((c) => c.connected).length, clients: clients.length });
  }
  if (command.check) say(check(command.check));
  if (command.stop) {
    stopping = true;
    for (const client of clients) if (client.socket) client.socket.close();
    stdin.close();
    setTimeout(() => process.exit(0), 500);
  }
});
