// Session: one connection to a Tandem server, shared by every document
// opened through it. It authenticates with the page's cookie, a bearer token
// (traded for a socket ticket before each connect) or a ticket function.

import { Connection } from './connection.js';
import { Doc } from './doc.js';
import { Emitter } from './emitter.js';
import { indexedDBStorage } from './persist.js';
import { Rest } from './rest.js';

/**
 * baseURL is the server's address without a trailing slash: url, or the
 * page's own origin when url is not given.
 */
function baseURL(url) {
  const u = url ?? globalThis.location?.origin;
  if (!u) throw new TypeError('connect: url is required outside a browser page');
  const parsed = new URL(u, globalThis.location?.href);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('connect: url must be http: or https:');
  return (parsed.origin + parsed.pathname).replace(/\/+$/, '');
}

/**
 * resolvePersist turns the persist option into {storage, locks, user}, or
 * null when edits are kept in memory only: not asked for, or the browser
 * has no IndexedDB or no Web Locks (both needed: without the lock, two tabs
 * could both send the same kept edits).
 */
function resolvePersist(p) {
  if (!p) return null;
  const o = p === true ? {} : p;
  const locks = o.locks ?? globalThis.navigator?.locks;
  let storage = o.storage;
  if (!storage) {
    try {
      storage = indexedDBStorage();
    } catch {
      storage = null;
    }
  }
  if (!locks || !storage) {
    console.warn('tandem: persist: no IndexedDB or Web Locks here, so edits are kept in memory only');
    return null;
  }
  return { storage, locks, user: o.user ?? null };
}

export class Session extends Emitter {
  /** See connect in index.js for the options. */
  constructor(opts = {}) {
    super();
    this.opts = opts;
    this.base = baseURL(opts.url);
    this.rest = new Rest({ base: this.base, token: opts.token, fetch: opts.fetch });
    this.persist = resolvePersist(opts.persist);
    this.docs = new Map(); // id -> Doc
    this.connection = new Connection({
      url: () => this.socketURL(),
      WebSocket: opts.WebSocket,
      stillSignedIn: opts.ticket && !opts.token ? undefined : () => this.stillSignedIn(),
      onHello: (hello) => this.emit('hello', hello),
      onStatus: (s) => this.onStatus(s),
    });
    this.connection.start();
  }

  /** status is 'connecting', 'online', 'offline', 'signed-out' or 'closed'. */
  get status() {
    return this.connection.status;
  }

  /** user is who the server says I am ({id, name, color}), null while not online. */
  get user() {
    return this.connection.hello?.user ?? null;
  }

  /** id is the server's id for the current socket (presence `session`), null while not online. */
  get id() {
    return this.connection.hello?.session ?? null;
  }

  /**
   * open joins the document id and returns its Doc, whose text arrives with
   * the first 'change' event (reset: true). A document is open at most once
   * per session.
   */
  open(id, opts = {}) {
    if (this.connection.stopped) throw new Error('tandem: the session is closed');
    if (this.docs.has(id)) throw new Error(`tandem: document ${id} is already open in this session`);
    const doc = new Doc(this, id, opts);
    this.docs.set(id, doc);
    if (doc.ready) {
      // Kept edits are restored first, so that the join asks from their version.
      doc.ready.then(() => {
        if (this.docs.get(id) === doc && !this.connection.stopped) this.connection.attach(doc.client);
      });
    } else {
      this.connection.attach(doc.client);
    }
    return doc;
  }

  /** close leaves every document and closes the socket for good. */
  close() {
    for (const doc of [...this.docs.values()]) doc.close();
    this.connection.stop();
  }

  /** forget is Doc.close's half: leave the document and stop routing to it. */
  forget(doc) {
    if (this.docs.get(doc.id) !== doc) return;
    this.docs.delete(doc.id);
    this.connection.detach(doc.client);
  }

  /** socketURL is the address for the next socket, with a fresh ticket if the session uses them. */
  async socketURL() {
    let ticket = null;
    if (this.opts.ticket) ticket = await this.opts.ticket();
    else if (this.opts.token) ticket = await this.rest.socketTicket();
    const url = `${this.base.replace(/^http/, 'ws')}/api/socket`;
    return ticket ? `${url}?ticket=${encodeURIComponent(ticket)}` : url;
  }

  /** stillSignedIn asks the server whether the credentials still hold; network errors throw. */
  async stillSignedIn() {
    try {
      await this.rest.me();
      return true;
    } catch (err) {
      if (err.status === 401) return false;
      throw err;
    }
  }

  onStatus(s) {
    this.emit('status', s);
    for (const doc of this.docs.values()) doc.schedule();
  }
}
