// A live line of requests per second, polled from /stats.

const POINTS = 60;
const INTERVAL_MS = 2000;

export class StatsChart {
  constructor(line, label) {
    this.line = line;
    this.label = label;
    this.values = [];
    this.timer = null;
  }

  start() {
    if (this.timer) return;
    this.poll();
    this.timer = setInterval(() => this.poll(), INTERVAL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  async poll() {
    try {
      const response = await fetch('/stats');
      if (!response.ok) return;
      const { requests_per_second: rate } = await response.json();
      this.values = [...this.values, rate].slice(-POINTS);
      this.draw();
    } catch {
      // The server is away; the connection indicator already says so.
    }
  }

  draw() {
    const top = Math.max(1, ...this.values);
    const step = 120 / (POINTS - 1);
    const offset = POINTS - this.values.length;
    const points = this.values.map((value, n) => `${((offset + n) * step).toFixed(1)},${(40 - (value / top) * 38).toFixed(1)}`);
    this.line.setAttribute('points', points.join(' '));
    this.label.textContent = `${this.values[this.values.length - 1].toFixed(2)} requests/s`;
  }
}
