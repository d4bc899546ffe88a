// The live feed client: /api/ws with reconnect (backoff) and `since`, so nothing is missed.
//
// Listeners: feed.on("task.done", fn), feed.on("*", fn) for every event,
// feed.on("reset", fn) when the page must reload through REST, feed.on("status", fn)
// with "connecting" | "live" | "lost", feed.on("closed", fn) on every socket that closed
// unasked (a refused handshake, 401 included, closes as any other: the page asks /api/me).

export class LiveFeed {
  constructor() {
    this.seq = null;
    this.listeners = new Map();
    this.status = "connecting";
    this.socket = null;
    this.retries = 0;
    this.stopped = false;
    this.timer = null;
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  emit(type, payload) {
    for (const key of [type, "*"]) {
      for (const fn of this.listeners.get(key) || []) {
        try { fn(payload); } catch (error) { console.error("live listener failed", error); }
      }
    }
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const fn of this.listeners.get("status") || []) fn(status);
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.seq === null ? "" : `?since=${this.seq}`;
    const socket = new WebSocket(`${scheme}//${location.host}/api/ws${since}`);
    this.socket = socket;
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.setStatus("lost");
      for (const fn of this.listeners.get("closed") || []) fn();  // not a server event: not to "*"
      const delay = Math.min(15000, 500 * 2 ** this.retries) * (0.75 + Math.random() / 2);
      this.retries += 1;
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  receive(text) {
    let message;
    try { message = JSON.parse(text); } catch { return; }
    if (message.type === "hello") {
      this.retries = 0;
      const first = this.seq === null;
      if (first) this.seq = message.seq;
      this.setStatus("live");
      if (!first) this.emit("reconnected", message);
      return;
    }
    if (message.type === "reset") {
      this.seq = message.seq;
      this.emit("reset", message);
      return;
    }
    if (typeof message.seq === "number") {
      if (this.seq !== null && message.seq <= this.seq) return;  // already seen
      this.seq = message.seq;
    }
    this.emit(message.type, message);
  }
}
