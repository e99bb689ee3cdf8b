// One WebSocket per tab (protocol v1), reconnecting with backoff. It routes
// every server message about a document to that document's DocClient and
// reports its status: 'connecting', 'online' or 'offline'.

const protocol = 'tandem.v1';
const minDelayMs = 500;
const maxDelayMs = 15000;

/** socketURL is the socket's address on the page's own origin. */
export function socketURL(loc = globalThis.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/api/socket`;
}

export class Connection {
  /**
   * @param {object} opts
   * @param {string} opts.url  the socket address
   * @param {(hello: object) => void} [opts.onHello]
   * @param {() => Promise<boolean>} [opts.stillSignedIn] asked after a failed
   *   connect; false stops reconnecting (the session ended)
   */
  constructor(opts) {
    this.opts = opts;
    this.docs = new Map(); // doc id -> DocClient
    this.ws = null;
    this.hello = null;
    this.status = 'connecting';
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.listeners = new Set(); // called with the status when it changes
    this.onOnline = () => this.reconnectNow();
  }

  /** start opens the socket. */
  start() {
    globalThis.addEventListener?.('online', this.onOnline);
    this.open();
  }

  /** stop closes the socket for good. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    globalThis.removeEventListener?.('online', this.onOnline);
    this.ws?.close(1000);
    this.ws = null;
  }

  /** attach routes a document's messages to client and joins it when online. */
  attach(client) {
    this.docs.set(client.doc, client);
    if (this.hello) client.connected(this.hello);
  }

  /** detach leaves the document. */
  detach(client) {
    client.leave();
    this.docs.delete(client.doc);
  }

  /** send hands msg to the socket; false when it is not open. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.hello) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  open() {
    if (this.stopped || this.ws) return;
    this.setStatus(this.attempt === 0 ? 'connecting' : 'offline');
    let ws;
    try {
      ws = new WebSocket(this.opts.url, protocol);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => {
      if (this.ws === ws) this.onFrame(e.data);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const wasOnline = this.hello !== null;
      this.hello = null;
      for (const c of this.docs.values()) c.disconnected();
      if (e.code === 1009) console.warn('tandem: the server refused an oversized message');
      // "signed out": this session ended, perhaps in another tab.
      this.retry({ wasOnline, checkSession: e.code === 1008 && e.reason === 'signed out' });
    };
  }

  onFrame(data) {
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      console.warn('tandem: unreadable frame from the server');
      return;
    }
    for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
      if (msg.type === 'hello') {
        this.hello = msg;
        this.attempt = 0;
        for (const c of this.docs.values()) c.connected(msg);
        this.setStatus('online');
        this.opts.onHello?.(msg);
        continue;
      }
      const c = msg.doc !== undefined ? this.docs.get(msg.doc) : undefined;
      try {
        if (c) c.receive(msg);
        else if (msg.type === 'error') console.warn('tandem:', msg.code, msg.message);
      } catch (err) {
        // One document's failure must not cost the others their messages.
        console.error('tandem: handling', msg.type, 'for', msg.doc, err);
      }
    }
  }

  async retry({ wasOnline = false, checkSession = false } = {}) {
    if (this.stopped) return;
    this.setStatus('offline');
    this.attempt = wasOnline ? 1 : this.attempt + 1;
    if ((checkSession || (!wasOnline && this.attempt >= 2)) && this.opts.stillSignedIn) {
      // A refused handshake looks like any other failure to a browser: ask
      // whether the session is still good before trying forever.
      let ok = true;
      try {
        ok = await this.opts.stillSignedIn();
      } catch {
        ok = true; // offline: keep trying
      }
      if (!ok) {
        this.stop();
        return;
      }
      if (this.stopped || this.ws) return; // reconnected meanwhile
    }
    const delay = Math.min(maxDelayMs, minDelayMs * 2 ** (this.attempt - 1));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay * (0.5 + Math.random() / 2));
  }

  /** reconnectNow skips the backoff wait (the browser says the network is back). */
  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.open();
  }

  setStatus(s) {
    if (s === this.status) return;
    this.status = s;
    for (const fn of this.listeners) fn(s);
  }
}
