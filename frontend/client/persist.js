// Keeping a document's pending edits across reloads, crashes and browser
// restarts (the `persist` option of connect). While edits are unacknowledged
// the state the protocol's client needs to send them again (docs/protocol.md
// §9, §10) is written to storage: the server version it is at, the local
// text, the outstanding op with its original id, base version and form, and
// the buffer. A page that opens the document again restores that state and
// rejoins at its version, so the join's catch-up (or the history) moves the
// edits over what others did meanwhile, and the outstanding op is re-sent
// under its original id: the server dedupes it, so it lands exactly once.
//
// Tabs: a document's record belongs to one tab at a time, the holder of a
// Web Lock (navigator.locks) of the same name, held while the document is
// open. A tab that finds the lock taken opens the document as usual,
// without restoring or keeping anything, and waits for the lock; when it
// gets it (the other tab closed or crashed), edits left in the record are
// sent over REST (with their ids, so exactly once) before it keeps its own.

import { apply, cpLength, targetLength, transform } from './ot.js';

/** The record's format; a record of another format is not restored. */
const format = 1;

/** How long a page waits for another page's lock before it opens without restoring. */
const lockWaitMs = 1000;

/** A write that takes longer than this turns keeping off (ops wait for writes). */
const writeTimeoutMs = 10000;

/** How long to wait before trying again to send what another tab left, after a network error. */
const retryLeftoverMs = 3000;

/**
 * indexedDBStorage keeps records in the browser's IndexedDB: database name
 * (default 'tandem'), object store 'pending', one record per key.
 */
export function indexedDBStorage({ name = 'tandem', indexedDB = globalThis.indexedDB } = {}) {
  if (!indexedDB) throw new Error('tandem: IndexedDB is not available here');
  let opening = null;
  const db = () => {
    opening ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('pending');
      req.onsuccess = () => {
        const d = req.result;
        // Another page upgrading the database: step aside, reopen on next use.
        d.onversionchange = () => {
          d.close();
          opening = null;
        };
        resolve(d);
      };
      req.onerror = () => {
        opening = null;
        reject(req.error);
      };
      req.onblocked = () => {
        opening = null;
        reject(new Error('tandem: the storage database is blocked by another page'));
      };
    });
    return opening;
  };
  /** run does one request in its own transaction and resolves when that commits. */
  const run = async (mode, fn) => {
    const tx = (await db()).transaction('pending', mode);
    const req = fn(tx.objectStore('pending'));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? req.error);
      tx.onabort = () => reject(tx.error ?? new Error('tandem: storage transaction aborted'));
    });
  };
  return {
    get: (key) => run('readonly', (s) => s.get(key)),
    put: (key, value) => run('readwrite', (s) => s.put(value, key)).then(() => undefined),
    delete: (key) => run('readwrite', (s) => s.delete(key)).then(() => undefined),
  };
}

/** validRecord checks a stored record before it is trusted with the state machine. */
export function validRecord(rec) {
  if (!rec || rec.format !== format || typeof rec.text !== 'string') return false;
  if (!Number.isInteger(rec.version) || rec.version < 0) return false;
  const o = rec.outstanding;
  if (!o || typeof o.id !== 'string' || !Number.isInteger(o.base) || o.base < 0 || o.base > rec.version) return false;
  if (!Array.isArray(o.original) || !Array.isArray(o.op)) return false;
  if (rec.buffer !== null && !Array.isArray(rec.buffer)) return false;
  try {
    return targetLength(rec.buffer ?? o.op) === cpLength(rec.text);
  } catch {
    return false;
  }
}

/**
 * Keeper keeps one Doc's pending edits in storage while its tab holds the
 * document's lock. Made by Doc when the session persists.
 */
export class Keeper {
  /**
   * @param {import('./doc.js').Doc} doc
   * @param {object} opts  the session's persist option, resolved:
   *   {storage, locks, user?}
   */
  constructor(doc, opts) {
    this.doc = doc;
    this.storage = opts.storage;
    this.locks = opts.locks;
    this.user = opts.user ?? null;
    this.key = null;
    this.active = false; // this tab holds the lock and keeps the record
    this.kept = null; // the outstanding id in the last record written (null: none)
    this.keptState = null; // what was last written: {version, outstanding, buffer, text}
    this.writing = false;
    this.again = false;
    this.closed = false;
    this.release = null; // resolves the held lock's promise
    this.abort = new AbortController(); // a lock request still waiting
    this.failed = false;
  }

  /** stored reports whether storage holds the current pending state (or nothing is pending). */
  get stored() {
    return this.active && !this.writing && !this.again && this.same();
  }

  /**
   * start takes the lock and restores what the record holds. If another tab
   * holds the lock for longer than lockWaitMs (a page being reloaded lets go
   * of it a moment after the new one asks), the document opens without
   * restoring, and the lock is taken when that tab lets go. It resolves
   * (never rejects) once the document may join.
   */
  async start() {
    try {
      this.user ??= await this.whoAmI();
      if (this.closed) return;
      this.key = `tandem:${this.doc.session.base}:${this.user}:${this.doc.id}`;
      const granted = this.lock();
      const got = await Promise.race([granted, new Promise((r) => setTimeout(() => r(false), lockWaitMs))]);
      if (this.closed) return;
      if (!got) {
        this.later(granted);
        return;
      }
      const rec = await this.read();
      if (this.closed) return;
      if (rec) {
        this.doc.client.restore({ version: rec.version, role: rec.role, text: rec.text, outstanding: rec.outstanding, buffer: rec.buffer });
        this.kept = rec.outstanding.id;
        this.keptState = { version: rec.version, outstanding: this.doc.client.outstanding, buffer: rec.buffer, text: rec.text };
      }
      this.active = true;
      this.doc.schedule(); // status, role: restored
    } catch (err) {
      if (err?.name === 'AbortError' && this.closed) return;
      this.fail(err);
    } finally {
      // What this page keeps is this user's: it never joins as another.
      if (this.user) this.doc.client.owner = this.user;
    }
  }

  /** whoAmI waits for the session's hello when the user was not given. */
  whoAmI() {
    const s = this.doc.session;
    if (s.user) return Promise.resolve(s.user.id);
    return new Promise((resolve) => {
      const off = s.on('hello', (h) => {
        off();
        resolve(h.user.id);
      });
    });
  }

  /** lock asks for the document's lock and resolves true once held; it is held until release is called. */
  lock() {
    return new Promise((resolve, reject) => {
      this.locks.request(this.key, { signal: this.abort.signal }, () => {
        resolve(true);
        return new Promise((r) => {
          this.release = r;
          if (this.closed) r();
        });
      }).catch(reject);
    });
  }

  /**
   * later waits for the lock (granted: the pending request); once held, it
   * sends what a tab that closed left in the record, then keeps this one's.
   */
  later(granted) {
    granted.then(async () => {
      if (this.closed) return;
      const rec = await this.read();
      if (rec && !(await this.sendLeftover(rec))) return;
      if (this.closed) return;
      this.active = true;
      this.kept = null;
      this.keptState = null;
      this.changed();
    }).catch((err) => {
      if (err?.name !== 'AbortError') this.fail(err);
    });
  }

  /** read returns the valid record under the key, or null; an invalid one is handed back and removed. */
  async read() {
    const rec = await this.storage.get(this.key);
    if (rec === undefined || rec === null) return null;
    if (validRecord(rec)) return rec;
    console.warn('tandem: ignoring an unreadable stored record for', this.doc.id);
    if (typeof rec?.text === 'string') this.doc.emit('notice', { kind: 'lost', message: 'Edits kept on this device could not be read back.', text: rec.text });
    await this.storage.delete(this.key);
    return null;
  }

  /**
   * sendLeftover sends a record left by another tab of this document that
   * closed with edits pending, over REST, as that tab's client would have:
   * the outstanding op unchanged under its id (the server dedupes it), then
   * the buffer moved over the ops sequenced before it, under a new id kept
   * first. What cannot be sent is handed back to the person ('lost').
   */
  async sendLeftover(rec) {
    const { rest } = this.doc.session;
    const doc = this.doc.id;
    try {
      await this.online();
      const out = rec.outstanding;
      const me = this.doc.session.user?.id ?? this.user;
      const { version: A } = await rest.submitOp(doc, { version: out.base, id: out.id, op: out.original });
      if (rec.buffer) {
        // The buffer follows the outstanding op: move both over the ops
        // sequenced between the record's version and that op.
        let o = out.op;
        let buf = rec.buffer;
        for (const h of await rest.ops(doc, rec.version + 1, A)) {
          if (h.id === out.id && h.user === me) break;
          let x = h.op;
          [x, o] = transform(x, o);
          [, buf] = transform(x, buf);
        }
        const id = `${this.doc.client.idPrefix}-k${Date.now().toString(36)}`;
        const { content } = await rest.call('GET', `/api/docs/${encodeURIComponent(doc)}/content?version=${A}`);
        const next = { ...rec, version: A, outstanding: { id, base: A, original: buf, op: buf }, buffer: null };
        next.text = apply(content, buf);
        await this.storage.put(this.key, next);
        await rest.submitOp(doc, { version: A, id, op: buf });
      }
    } catch (err) {
      if (err?.status === 0) {
        // Offline again: leave the record for the next try (or another tab).
        this.release?.();
        this.release = null;
        setTimeout(() => {
          if (!this.closed) this.later(this.lock());
        }, retryLeftoverMs);
        return false;
      }
      this.doc.emit('notice', { kind: 'lost', message: `Edits left by another tab could not be saved (${err.message}).`, text: rec.text });
    }
    await this.storage.delete(this.key);
    return true;
  }

  /** online resolves once the session is online (REST calls go with it). */
  online() {
    const s = this.doc.session;
    if (s.status === 'online') return Promise.resolve();
    return new Promise((resolve) => {
      const off = s.on('status', (st) => {
        if (st === 'online') {
          off();
          resolve();
        }
      });
    });
  }

  /** same reports whether the last record written is the client's current state. */
  same() {
    const c = this.doc.client;
    const s = this.keptState;
    if (!c.outstanding || !c.loaded) return s === null;
    return s !== null && s.version === c.version && s.outstanding === c.outstanding && s.buffer === c.buffer && s.text === this.doc.text;
  }

  /** changed is called whenever the client's state may have changed: write it if it did. */
  changed() {
    if (!this.active || this.closed || this.doc.client.gone === 'other-user') return;
    if (this.writing) {
      this.again = true;
      return;
    }
    this.again = false;
    if (this.same()) return;
    this.write();
  }

  /** write stores the current state (or deletes the record when nothing is pending), one write at a time. */
  async write() {
    this.writing = true;
    this.again = false;
    const c = this.doc.client;
    const snap = c.snapshot();
    const state = snap ? { version: snap.version, outstanding: snap.outstanding, buffer: snap.buffer, text: this.doc.text } : null;
    let timer;
    const stuck = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`a write took longer than ${writeTimeoutMs} ms`)), writeTimeoutMs);
    });
    try {
      await Promise.race([stuck, this.put(snap, state)]);
    } catch (err) {
      this.writing = false;
      this.fail(err);
      return;
    } finally {
      clearTimeout(timer);
    }
    this.writing = false;
    this.keptState = state;
    this.kept = snap ? snap.outstanding.id : null;
    if (this.again && !this.closed) {
      this.changed();
    } else if (this.closed) {
      this.finish();
    }
    c.durable();
    this.doc.schedule();
  }

  /** put writes the record for snap (state is what it holds), or deletes it when snap is null. */
  put(snap, state) {
    if (!snap) return this.storage.delete(this.key);
    return this.storage.put(this.key, {
      format, server: this.doc.session.base, user: this.user, doc: this.doc.id,
      version: snap.version, role: snap.role, text: state.text,
      outstanding: snap.outstanding, buffer: snap.buffer, time: Date.now(),
    });
  }

  /** isDurable reports whether an op under id may be sent: storage names it, or nothing is kept. */
  isDurable(id) {
    return !this.active || this.kept === id;
  }

  /** fail turns keeping off after a storage or lock error; edits go on in memory. */
  fail(err) {
    if (this.failed) return;
    this.failed = true;
    console.warn('tandem: edits cannot be kept on this device:', err);
    this.active = false;
    this.closed = true;
    this.release?.();
    this.doc.client.durable();
    this.doc.schedule();
  }

  /** close stops keeping (the record stays, for the next open) and releases the lock after the last write. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    if (!this.writing) this.finish();
  }

  finish() {
    this.active = false;
    this.release?.();
    this.release = null;
  }
}
