// What the load generators (load.mjs, channels.mjs, storm.mjs) share:
// percentiles, a latency summary, and whether a websocket deflates.

// The value at percentile `p` of `sorted` (nearest rank), or null if empty.
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

// p50, p99 and max of `latencies` (ms), to two decimals.
export function summary(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const ms = (value) => (value === null ? null : Math.round(value * 100) / 100);
  return {
    p50_ms: ms(percentile(sorted, 50)),
    p99_ms: ms(percentile(sorted, 99)),
    max_ms: ms(sorted.length ? sorted[sorted.length - 1] : null),
  };
}

// Whether the server accepted permessage-deflate on this client's websocket
// (the `ws` object under Engine.IO's transport names what was agreed).
export function deflating(socket) {
  const ws = socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.ws;
  return Boolean(ws && typeof ws.extensions === 'string' && ws.extensions.includes('permessage-deflate'));
}
