// One WebSocket (protocol v1) for any number of documents, reconnecting with
// backoff. It routes every server message about a document to that
// document's DocClient and reports its status: 'connecting', 'online',
// 'offline', and at the end 'signed-out' or 'closed'.

const protocol = 'tandem.v1';
const minDelayMs = 500;
const maxDelayMs = 15000;
const OPEN = 1; // WebSocket.OPEN

export class Connection {
  /**
   * @param {object} opts
   * @param {string | (() => Promise<string>)} opts.url  the socket address,
   *   or a function giving it before each attempt (to fetch a fresh ticket).
   *   A rejection with `status` 401 or 403 means the credentials are no good.
   * @param {typeof WebSocket} [opts.WebSocket]  the WebSocket class (default: the global one)
   * @param {(hello: object) => void} [opts.onHello]
   * @param {(status: string) => void} [opts.onStatus]
   * @param {() => Promise<boolean>} [opts.stillSignedIn] asked after a failed
   *   connect; false stops reconnecting (the session ended)
   */
  constructor(opts) {
    this.opts = opts;
    this.docs = new Map(); // doc id -> DocClient
    this.ws = null;
    this.opening = false; // waiting for the address (a ticket)
    this.hello = null;
    this.status = 'connecting';
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.onOnline = () => this.reconnectNow();
  }

  /** start opens the socket. */
  start() {
    globalThis.addEventListener?.('online', this.onOnline);
    this.open();
  }

  /** stop closes the socket for good; status is the final status. */
  stop(status = 'closed') {
    this.stopped = true;
    clearTimeout(this.timer);
    globalThis.removeEventListener?.('online', this.onOnline);
    const ws = this.ws;
    this.ws = null;
    if (this.hello) {
      this.hello = null;
      for (const c of this.docs.values()) c.disconnected();
    }
    ws?.close(1000);
    this.setStatus(status);
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
    if (!this.ws || this.ws.readyState !== OPEN || !this.hello) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /** open gets the address and opens a socket, unless one is open or opening. */
  async open() {
    if (this.stopped || this.ws || this.opening) return;
    this.setStatus(this.attempt === 0 ? 'connecting' : 'offline');
    let url;
    this.opening = true;
    try {
      url = typeof this.opts.url === 'function' ? await this.opts.url() : this.opts.url;
    } catch (err) {
      this.opening = false;
      if (err?.status === 401 || err?.status === 403) this.stop('signed-out');
      else this.retry();
      return;
    }
    this.opening = false;
    if (this.stopped || this.ws) return;
    this.connect(url);
  }

  /** connect opens the socket at url and wires its events. */
  connect(url) {
    const WS = this.opts.WebSocket ?? globalThis.WebSocket;
    let ws;
    try {
      ws = new WS(url, protocol);
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

  /** onFrame handles one frame: a message or an array of them. */
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
        this.onHello(msg);
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

  /** onHello starts a new socket's life: every document (re)joins. */
  onHello(msg) {
    this.hello = msg;
    this.attempt = 0;
    for (const c of this.docs.values()) c.connected(msg);
    this.setStatus('online');
    this.opts.onHello?.(msg);
  }

  /** retry waits (backing off) and opens a new socket, unless the session ended. */
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
      if (this.stopped) return;
      if (!ok) {
        this.stop('signed-out');
        return;
      }
      if (this.ws || this.opening) return; // reconnected meanwhile
    }
    const delay = Math.min(maxDelayMs, minDelayMs * 2 ** (this.attempt - 1));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay * (0.5 + Math.random() / 2));
  }

  /** reconnectNow skips the backoff wait (the browser says the network is back). */
  reconnectNow() {
    if (this.stopped || this.ws || this.opening) return;
    clearTimeout(this.timer);
    this.open();
  }

  setStatus(s) {
    if (s === this.status) return;
    this.status = s;
    this.opts.onStatus?.(s);
  }
}
