// The client side of protocol v1 for one document: the state machine of
// docs/protocol.md §9 and the reconnect rules of §10. It knows nothing of the
// editor or the socket; it talks to them through the hooks given to its
// constructor, so tests can drive it with plain strings and a simulated
// server.

import { compose, isNoop, transform, transformRanges } from './ot.js';

/** Error codes after which an outstanding op will never apply (§9). */
const fatalCodes = new Set(['invalid_op', 'forbidden', 'too_large', 'conflict']);

/** How long to wait before re-sending an op refused as rate_limited. */
const rateLimitRetryMs = 1000;

/** Presence is sent at most this often; the server broadcasts every 40 ms. */
const presenceEveryMs = 50;

/**
 * randomId returns a short random string for op id prefixes: 12 characters
 * of base64url, 72 bits.
 */
export function randomId() {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_');
}

/**
 * DocClient keeps one document in step with the server.
 *
 * Hooks (all but send and apply optional):
 * - send(msg): hand a message to the socket; returns false when offline.
 * - apply(op): apply a remote op (code points) to the local text.
 * - reset(text): replace the local text (first join, resync).
 * - fetchOps(from, to): Promise of op records from the REST history, for a
 *   rejoin that came back with content while edits were pending (§10.4).
 * - changed(): something shown to the user changed (status, role, presence).
 * - notice(kind, message): tell the user something went wrong.
 * - setTimeout: the timer function (tests pass their own).
 */
export class DocClient {
  constructor(doc, hooks, idPrefix = randomId()) {
    this.doc = doc;
    this.hooks = hooks;
    this.idPrefix = idPrefix;
    this.counter = 0;
    this.timer = hooks.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));

    this.me = null; // my user id, from hello
    this.session = null; // this connection's session id
    this.joined = false; // a joined message arrived on the current socket
    this.joining = false; // a join was sent and not answered
    this.loaded = false; // the text has been loaded at least once
    this.version = null; // last server version seen
    this.role = null;
    this.outstanding = null; // {id, base, original, op}: sent, not acknowledged
    this.sent = false; // outstanding was sent on the current socket
    this.buffer = null; // local edits made while awaiting an ack
    this.held = null; // messages held while history is fetched (§10.4)
    this.presence = new Map(); // session -> {user, selection} at this.version
    this.selection = null; // my selection (code points, local text)
    this.presenceDirty = false;
    this.presenceTimer = null;
    this.lastPresenceAt = 0;
    this.gone = null; // why the document cannot be used any more
  }

  /** state is 'synchronized', 'awaiting' or 'awaiting-with-buffer' (§9). */
  get state() {
    if (!this.outstanding) return 'synchronized';
    return this.buffer ? 'awaiting-with-buffer' : 'awaiting';
  }

  /** pending reports whether any local edit is not yet acknowledged. */
  get pending() {
    return this.outstanding !== null;
  }

  get canEdit() {
    return this.role === 'owner' || this.role === 'editor';
  }

  // --- connection events -------------------------------------------------

  /** connected is called with the hello message of a new socket: it (re)joins. */
  connected(hello) {
    this.me = hello.user.id;
    this.session = hello.session;
    this.joined = false;
    this.sent = false;
    if (this.gone) return;
    const msg = { type: 'join', doc: this.doc };
    if (this.loaded) msg.version = this.version;
    this.joining = this.hooks.send(msg) !== false;
  }

  /** disconnected is called when the socket closes. Local edits go on. */
  disconnected() {
    this.joined = false;
    this.joining = false;
    this.sent = false;
    this.presence.clear();
    this.changed();
  }

  // --- local events ------------------------------------------------------

  /** local records an edit already applied to the local text. */
  local(op) {
    if (isNoop(op)) return;
    if (!this.outstanding) {
      this.outstanding = { id: this.nextId(), base: this.version, original: op, op };
      this.sendOutstanding();
    } else {
      this.buffer = this.buffer ? compose(this.buffer, op) : op;
    }
    this.changed();
  }

  /** select records my selection: a list of {anchor, head} in code points of the local text, or null. */
  select(ranges) {
    this.selection = ranges;
    this.presenceDirty = true;
    this.flushPresence();
  }

  /** leave tells the server this document is closed. */
  leave() {
    if (this.joined || this.joining) this.hooks.send({ type: 'leave', doc: this.doc });
    this.joined = false;
    this.joining = false;
    clearTimeout(this.presenceTimer);
  }

  // --- server messages ---------------------------------------------------

  /** receive handles one server message about this document. */
  receive(msg) {
    if (this.held) {
      this.held.push(msg);
      return;
    }
    switch (msg.type) {
      case 'joined':
        this.onJoined(msg);
        break;
      case 'ack':
        if (this.outstanding && msg.id === this.outstanding.id) this.onAck(msg.version);
        break;
      case 'op':
        this.onOp(msg);
        break;
      case 'presence':
        this.onPresence(msg);
        break;
      case 'role':
        this.setRole(msg.role);
        break;
      case 'error':
        this.onError(msg);
        break;
    }
    this.changed();
  }

  onJoined(msg) {
    this.joined = true;
    this.joining = false;
    this.setRole(msg.role);
    this.presence.clear();
    const entries = () => {
      for (const p of msg.presence ?? []) this.presence.set(p.session, { user: p.user, selection: p.selection });
    };
    if (msg.ops) {
      for (const rec of msg.ops) this.onOp(rec);
      entries();
      this.afterRejoin();
      return;
    }
    const J = msg.version;
    if (!this.loaded || !this.outstanding) {
      this.version = J;
      this.loaded = true;
      this.hooks.reset(msg.content);
      entries();
      this.presenceDirty = true;
      this.afterRejoin();
      return;
    }
    // Too far behind to catch up from the socket, with edits pending: fetch
    // the missing history over REST while holding what the socket sends.
    this.held = [];
    const recover = async () => {
      const recs = await this.hooks.fetchOps(this.version + 1, J);
      for (const rec of recs) {
        if (rec.version !== this.version + 1) throw new Error(`history gap at ${this.version + 1}`);
        this.onOp(rec);
      }
    };
    const done = (err) => {
      if (err) {
        // History unavailable: keep the text the server has; what was pending
        // is kept for the user to copy, never silently merged.
        const lost = this.outstanding;
        this.outstanding = null;
        this.buffer = null;
        this.version = J;
        this.hooks.reset(msg.content);
        if (lost) this.notice('lost', 'Some offline edits could not be merged and were set aside.');
      }
      entries();
      const held = this.held;
      this.held = null;
      this.afterRejoin();
      for (const m of held) this.receive(m);
      this.changed();
    };
    if (!this.hooks.fetchOps) {
      done(new Error('no history'));
      return;
    }
    recover().then(() => done(null), done);
  }

  /** afterRejoin re-sends the outstanding op unchanged (§10 step 3). */
  afterRejoin() {
    if (this.outstanding && !this.sent) this.sendOutstanding();
    this.presenceDirty = true;
    this.flushPresence();
  }

  onAck(version) {
    const done = this.outstanding;
    // Selections at the server's version move through my op as sequenced.
    for (const [session, p] of this.presence) {
      this.presence.set(session, { user: p.user, selection: transformRanges(p.selection, done.op, p.user.id === this.me) });
    }
    this.version = version;
    this.outstanding = null;
    this.sent = false;
    if (this.buffer) {
      this.outstanding = { id: this.nextId(), base: this.version, original: this.buffer, op: this.buffer };
      this.buffer = null;
      this.sendOutstanding();
    } else {
      this.flushPresence();
    }
  }

  onOp(msg) {
    if (this.outstanding && msg.id === this.outstanding.id && msg.user === this.me) {
      this.onAck(msg.version);
      return;
    }
    if (msg.version !== this.version + 1) {
      // Cannot happen with a correct server; resync rather than diverge.
      this.notice('error', `Out of step with the server (got version ${msg.version}, have ${this.version}); reloading.`);
      this.resync();
      return;
    }
    let o = msg.op;
    if (this.outstanding) {
      let out;
      [o, out] = transform(o, this.outstanding.op);
      this.outstanding = { ...this.outstanding, op: out };
      if (this.buffer) [o, this.buffer] = transform(o, this.buffer);
    }
    this.version = msg.version;
    for (const [session, p] of this.presence) {
      this.presence.set(session, { user: p.user, selection: transformRanges(p.selection, msg.op, p.user.id === msg.user) });
    }
    this.hooks.apply(o);
  }

  onPresence(msg) {
    if (msg.left) this.presence.delete(msg.session);
    else this.presence.set(msg.session, { user: msg.user, selection: msg.selection });
  }

  onError(msg) {
    const mine = this.outstanding && msg.id !== undefined && msg.id === this.outstanding.id;
    if (mine) {
      if (msg.code === 'rate_limited') {
        const id = msg.id;
        this.timer(() => {
          if (this.outstanding?.id === id && this.joined) this.sendOutstanding();
        }, rateLimitRetryMs);
        return;
      }
      if (fatalCodes.has(msg.code)) {
        this.notice('refused', `An edit was refused (${msg.message}); reloading the document.`);
        this.outstanding = null;
        this.buffer = null;
        this.resync();
        return;
      }
      // unavailable, bad_request (not joined, too far behind): rejoin.
      this.rejoin();
      return;
    }
    if (msg.id !== undefined) return; // about an op already settled
    switch (msg.code) {
      case 'not_found':
        this.gone = 'not_found';
        this.joined = false;
        this.joining = false;
        this.notice('gone', 'This document was deleted or you no longer have access to it.');
        break;
      case 'unavailable':
        // The room restarted or is shutting down: we are no longer joined.
        this.joined = false;
        this.joining = false;
        this.timer(() => this.rejoinIfIdle(), 500);
        break;
      case 'rate_limited':
        break; // a presence update was dropped; the next one replaces it
      default:
        this.notice('error', msg.message);
    }
  }

  // --- helpers -----------------------------------------------------------

  setRole(role) {
    if (!role || role === this.role) return;
    this.role = role;
    if (!this.canEdit && this.outstanding) {
      // A viewer's pending edits will be refused: drop them (§8).
      this.outstanding = null;
      this.buffer = null;
      this.resync();
    }
  }

  /** resync drops the local text and loads the server's: leave, then join without a version. */
  resync() {
    this.hooks.send({ type: 'leave', doc: this.doc });
    this.loaded = false;
    this.joined = false;
    this.joining = this.hooks.send({ type: 'join', doc: this.doc }) !== false;
  }

  /** rejoin leaves and joins again at the current version, keeping pending edits. */
  rejoin() {
    this.hooks.send({ type: 'leave', doc: this.doc });
    this.joined = false;
    this.sent = false;
    this.joining = this.hooks.send({ type: 'join', doc: this.doc, version: this.version }) !== false;
  }

  rejoinIfIdle() {
    if (this.joined || this.joining || this.gone) return;
    const msg = { type: 'join', doc: this.doc };
    if (this.loaded) msg.version = this.version;
    this.joining = this.hooks.send(msg) !== false;
  }

  sendOutstanding() {
    if (!this.joined) return; // sent after the next join
    const o = this.outstanding;
    this.sent = this.hooks.send({ type: 'op', doc: this.doc, version: o.base, id: o.id, op: o.original }) !== false;
  }

  /** flushPresence sends my selection when synchronized, at most every presenceEveryMs. */
  flushPresence() {
    if (!this.presenceDirty || !this.joined || this.outstanding || this.presenceTimer) return;
    const now = Date.now();
    const wait = this.lastPresenceAt + presenceEveryMs - now;
    if (wait > 0) {
      this.presenceTimer = this.timer(() => {
        this.presenceTimer = null;
        this.flushPresence();
      }, wait);
      return;
    }
    this.presenceDirty = false;
    this.lastPresenceAt = now;
    this.hooks.send({ type: 'presence', doc: this.doc, version: this.version, selection: this.selection });
  }

  /**
   * remoteSelections lists the other connections here, with their selections
   * moved onto the local text (through outstanding and buffer).
   */
  remoteSelections() {
    const out = [];
    for (const [session, p] of this.presence) {
      let sel = p.selection;
      if (sel && this.outstanding) sel = transformRanges(sel, this.outstanding.op, false);
      if (sel && this.buffer) sel = transformRanges(sel, this.buffer, false);
      out.push({ session, user: p.user, selection: sel });
    }
    return out;
  }

  nextId() {
    this.counter++;
    return `${this.idPrefix}-${this.counter}`;
  }

  changed() {
    this.hooks.changed?.();
  }

  notice(kind, message) {
    this.hooks.notice?.(kind, message);
  }
}
