// The client side of protocol v1 for one document: the state machine of
// docs/protocol.md §9 and the reconnect rules of §10. It knows nothing of the
// editor or the socket; it talks to them through the hooks given to its
// constructor, so tests can drive it with plain strings and a simulated
// server.

import { compose, isNoop, transform, transformIndex, transformRanges } from './ot.js';

/** Error codes after which an outstanding op will never apply (§9). */
const fatalCodes = new Set(['invalid_op', 'forbidden', 'too_large', 'conflict', 'not_found', 'unsupported']);

/** How long to wait before re-sending an op refused as rate_limited. */
const rateLimitRetryMs = 1000;

/** Presence is sent at most this often; the server broadcasts every 40 ms. */
const presenceEveryMs = 50;

/** The server takes at most this many ranges per selection. */
const maxRanges = 100;

/**
 * Ops whose message is larger than this go over REST, whose body limit is
 * twice the document limit, instead of the socket, whose frame limit
 * (--max-frame-bytes, 256 KiB by default) would close the socket (§7, 1009).
 */
export const restThresholdBytes = 64 * 1024;

/** History fetches for a recovery (§10.4): attempts and the waits between them. */
const recoveryWaitsMs = [0, 1000, 3000];

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

/** utf8Length is the UTF-8 size of s in bytes. */
function utf8Length(s) {
  if (s.length * 3 <= restThresholdBytes) return s.length; // small either way
  return new TextEncoder().encode(s).length;
}

/**
 * DocClient keeps one document in step with the server.
 *
 * Hooks (all but send, apply and reset optional):
 * - send(msg): hand a message to the socket; returns false when offline.
 * - apply(op): apply a remote op (code points) to the local text. It may
 *   throw if the op does not fit: the client then reloads the document.
 * - reset(text): replace the local text (first join, resync).
 * - text(): the local text, to hand back to the user when edits cannot be
 *   merged.
 * - fetchOps(from, to): Promise of op records from the REST history, for a
 *   rejoin that came back with content while edits were pending (§10.4).
 * - submitOp({version, id, op}): Promise; send a large op over REST (§11).
 *   A rejection carries the error `code`.
 * - changed(): something shown to the user changed (status, role, presence).
 * - notice(kind, message, text): tell the user something went wrong; kind
 *   'lost' comes with the text the user had, 'gone' means the document can no
 *   longer be used.
 * - isDurable(id): with storage (persist.js), whether the kept state names
 *   the outstanding op id; the op is held back until it does, and durable()
 *   is then called.
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
    this.joined = false; // a joined message arrived on the current socket
    this.joining = false; // a join was sent and not answered
    this.joinFailures = 0; // refused joins in a row
    this.loaded = false; // the local text is a version of the server's
    this.version = null; // last server version seen
    this.role = null;
    this.outstanding = null; // {id, base, original, op}: sent, not acknowledged
    this.sent = false; // outstanding was sent on the current membership
    this.refusals = 0; // refusals of pending edits since the last ack
    this.caughtUp = false; // a join was answered since the last refusal
    this.rejoinWanted = false; // leave and join again once the pending join is answered
    this.joinAfterRecovery = false; // a new socket came while history was being fetched
    this.buffer = null; // local edits made while awaiting an ack
    this.held = null; // messages held while history is fetched (§10.4)
    this.presence = new Map(); // session -> {user, selection} at this.version
    this.selection = null; // my selection (code points, local text)
    this.presenceDirty = false;
    this.presenceTimer = null;
    this.lastPresenceAt = 0;
    this.gone = null; // why the document cannot be used any more
    this.owner = null; // with kept edits: the user id the document is edited as
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

  /** editable reports whether the person may type now (offline included). */
  get editable() {
    return this.canEdit && this.loaded && !this.gone;
  }

  // --- connection events -------------------------------------------------

  /** connected is called with the hello message of a new socket: it (re)joins. */
  connected(hello) {
    if (this.owner && hello.user.id !== this.owner) {
      // Kept edits belong to the person who made them: never send them
      // (nor anything) as someone else.
      if (!this.gone) {
        this.gone = 'other-user';
        this.notice('error', 'This page is now signed in as someone else: reload it. Edits kept here for the previous account stay on this device.');
        this.changed();
      }
      return;
    }
    this.me = hello.user.id;
    this.joined = false;
    this.joining = false;
    this.sent = false;
    this.joinFailures = 0;
    this.rejoinWanted = false;
    if (this.held) {
      // Recovering history: join at the version it reaches, not this one.
      this.joinAfterRecovery = true;
      return;
    }
    this.join();
  }

  /**
   * restore takes the pending state a previous page kept in storage (see
   * persist.js): the server version it was at, its role, the outstanding op
   * (with its original id, base and form) and the buffer. The text is the
   * caller's to show (hooks.reset). Called before the first join; the join
   * then asks for the ops since that version and re-sends the outstanding
   * op unchanged (§10), so the server applies it at most once.
   */
  restore(state) {
    this.version = state.version;
    this.role = state.role ?? null;
    this.loaded = true;
    this.outstanding = state.outstanding ? { ...state.outstanding } : null;
    this.buffer = this.outstanding ? state.buffer ?? null : null;
    this.sent = false;
    this.hooks.reset(state.text);
  }

  /**
   * snapshot is the state that restore takes back: null when nothing is
   * pending (or the text is not loaded), as nothing then needs keeping.
   */
  snapshot() {
    if (!this.loaded || !this.outstanding) return null;
    return { version: this.version, role: this.role, outstanding: this.outstanding, buffer: this.buffer };
  }

  /** durable is called when storage has caught up: an op held back for it can go. */
  durable() {
    if (this.outstanding && !this.sent && this.joined && !this.held) this.sendOutstanding();
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
    // Before the text is loaded the editor is read only; a reset replaces
    // whatever it holds.
    if (isNoop(op) || !this.loaded) return;
    if (!this.outstanding) {
      this.outstanding = { id: this.nextId(), base: this.version, original: op, op };
      this.refusals = 0;
      this.sendOutstanding();
    } else {
      this.buffer = this.buffer ? compose(this.buffer, op) : op;
    }
    this.changed();
  }

  /** select records my selection: a list of {anchor, head} in code points of the local text, or null. */
  select(ranges) {
    this.selection = ranges ? ranges.slice(0, maxRanges) : null;
    this.presenceDirty = true;
    this.flushPresence();
  }

  /** leave tells the server this document is closed. */
  leave() {
    if (this.joined || this.joining) this.hooks.send({ type: 'leave', doc: this.doc });
    this.joined = false;
    this.joining = false;
    this.gone ??= 'left';
    clearTimeout(this.presenceTimer);
  }

  // --- server messages ---------------------------------------------------

  /** receive handles one server message about this document. */
  receive(msg) {
    if (this.held) {
      this.held.push(msg);
      return;
    }
    // Until the join is answered, what arrives belongs to a membership this
    // client has left (the server sends until it reads the leave): the join's
    // own catch-up brings again whatever of it matters. Only errors about the
    // join itself count.
    if (!this.joined && msg.type !== 'joined' && !(msg.type === 'error' && msg.id === undefined)) return;
    switch (msg.type) {
      case 'joined':
        if (this.joining) this.onJoined(msg);
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
        this.role = msg.role;
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
    this.sent = false; // whatever was sent before belongs to a membership that ended
    this.joinFailures = 0;
    this.caughtUp = true;
    if (this.rejoinWanted) {
      // Superseded while in flight (a resync, say): leave and ask again.
      this.rejoinWanted = false;
      this.rejoin();
      return;
    }
    if (msg.ops && !this.loaded) {
      // A catch-up for a text this client no longer holds.
      this.resync();
      return;
    }
    this.role = msg.role;
    this.presence.clear();
    const entries = () => {
      this.presence.clear();
      for (const p of msg.presence ?? []) this.presence.set(p.session, { user: p.user, selection: p.selection });
    };
    if (msg.ops) {
      for (const rec of msg.ops) {
        this.onOp(rec);
        if (!this.joined) return; // out of step: resyncing
      }
      entries();
      this.afterJoin();
      return;
    }
    const J = msg.version;
    if (!this.loaded || !this.outstanding) {
      this.adopt(msg.content, J);
      entries();
      this.afterJoin();
      return;
    }
    // Too far behind to catch up from the socket, with edits pending: fetch
    // the missing history over REST while holding what the socket sends.
    this.recoverHolding(J, () => {
      entries();
      this.afterJoin();
    });
  }

  /**
   * recoverHolding fetches the history up to version J over REST and feeds
   * it through onOp, holding what the socket sends meanwhile; then it runs
   * then (if still joined) and the held messages. If the history cannot be
   * had, orElse runs instead, if given; else the pending edits are handed
   * back and the document reloaded.
   */
  recoverHolding(J, then, orElse) {
    this.held = [];
    this.recover(J).then((ok) => {
      const held = this.held ?? [];
      this.held = null;
      if (!ok && this.loaded && orElse) {
        // The history is not to be had now: a rejoin at my version brings
        // the single ops instead (the held messages belong to the old
        // membership and are dropped).
        orElse();
        this.changed();
        return;
      }
      if (!ok && this.loaded) {
        // History unavailable: hand the person their text to copy, rather
        // than merge edits in the wrong place, and load the server's anew.
        this.dropPending('Your offline edits could not be merged with the latest version.');
        this.resync();
      } else if (this.loaded && this.joined) {
        then();
      }
      for (const m of held) this.receive(m);
      if (this.joinAfterRecovery) {
        this.joinAfterRecovery = false;
        this.join();
      }
      this.changed();
    });
  }

  /** recover feeds history up to version J through onOp; false when it cannot be had. */
  async recover(J) {
    if (!this.hooks.fetchOps) return false;
    for (const wait of recoveryWaitsMs) {
      if (wait) await new Promise((resolve) => this.timer(resolve, wait));
      let recs;
      try {
        recs = await this.hooks.fetchOps(this.version + 1, J);
      } catch {
        continue; // a network blip or a busy server: try again
      }
      for (const rec of recs) {
        if (rec.version <= this.version) continue;
        if (rec.version !== this.version + 1) return false;
        this.onOp(rec);
        if (!this.loaded) return true; // out of step: resyncing
      }
      return this.version === J;
    }
    return false;
  }

  /** adopt takes the server's text at version. */
  adopt(content, version) {
    this.version = version;
    this.loaded = true;
    this.hooks.reset(content);
  }

  /** afterJoin re-sends the outstanding op unchanged (§10 step 3) and my presence. */
  afterJoin() {
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
    this.refusals = 0;
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
    // A composed op (sent to a reader that fell behind) stands for the
    // versions from msg.from to msg.version; any other is one version.
    const first = msg.from ?? msg.version;
    if (first !== this.version + 1 || msg.version < first) {
      this.outOfStep(`got version ${msg.version} after ${this.version}`);
      return;
    }
    if (msg.version > first && (this.outstanding || this.buffer)) {
      // My pending edits cannot be moved over the composed op as the
      // server moves them (over each op in turn: they can land elsewhere
      // where edits meet), so fetch those ops one by one.
      this.recoverHolding(msg.version, () => this.afterJoin(), () => this.rejoin());
      return;
    }
    let o = msg.op;
    let out = this.outstanding?.op;
    let buf = this.buffer;
    try {
      if (out) {
        [o, out] = transform(o, out);
        if (buf) [o, buf] = transform(o, buf);
      }
      this.hooks.apply(o);
    } catch (err) {
      this.outOfStep(err.message);
      return;
    }
    if (this.outstanding) this.outstanding = { ...this.outstanding, op: out };
    this.buffer = buf;
    this.version = msg.version;
    for (const [session, p] of this.presence) {
      this.presence.set(session, { user: p.user, selection: transformRanges(p.selection, msg.op, p.user.id === msg.user) });
    }
    if (this.selection) {
      this.selection = this.selection.map((r) => ({ anchor: transformIndex(r.anchor, o, false), head: transformIndex(r.head, o, false) }));
    }
  }

  /** outOfStep reloads a document whose local copy no longer fits the server's. */
  outOfStep(why) {
    console.warn(`tandem: ${this.doc} out of step with the server (${why}); reloading it`);
    this.dropPending('The document got out of step with the server and was reloaded.');
    this.resync();
  }

  onPresence(msg) {
    if (msg.left) this.presence.delete(msg.session);
    else this.presence.set(msg.session, { user: msg.user, selection: msg.selection });
  }

  onError(msg) {
    if (msg.id !== undefined) {
      if (this.outstanding && msg.id === this.outstanding.id) this.onOpRefused(msg);
      return; // about an op already settled
    }
    if (this.joining) {
      this.onJoinRefused(msg);
      return;
    }
    if (!this.joined) {
      // About a membership already left (a refused leave, say).
      if (msg.code === 'not_found') this.setGone('This document was deleted or you no longer have access to it.');
      return;
    }
    switch (msg.code) {
      case 'not_found':
        this.setGone('This document was deleted or you no longer have access to it.');
        break;
      case 'unavailable':
        // The room restarted or is shutting down: we are no longer joined.
        this.joined = false;
        this.sent = false;
        this.timer(() => this.join(), 500);
        break;
      case 'rate_limited':
        break; // a presence update was dropped; the next one replaces it
      default:
        console.warn(`tandem: ${this.doc}: ${msg.code}: ${msg.message}`);
    }
  }

  onOpRefused(msg) {
    const o = this.outstanding;
    if (msg.code === 'rate_limited') {
      this.sent = false;
      this.timer(() => {
        if (this.outstanding?.id === o.id && !this.sent) this.sendOutstanding();
      }, rateLimitRetryMs);
      return;
    }
    if (fatalCodes.has(msg.code)) {
      this.dropPending(`An edit was refused (${msg.message}).`);
      this.resync();
      return;
    }
    this.refusals++;
    if ((msg.code === 'bad_request' || msg.code === 'internal') && this.refusals >= 2 && this.caughtUp && this.joined && !o.rebased) {
      // Refused again after a rejoin caught up: its base is too far behind
      // (or its history unreadable). The catch-up showed it was never
      // applied, and the server dedupes what it has sequenced before
      // refusing a base as too old, so send it as a new op at the current
      // version.
      this.outstanding = { id: this.nextId(), base: this.version, original: o.op, op: o.op, rebased: true };
      this.sent = false;
      this.sendOutstanding();
      return;
    }
    // unavailable, internal, bad_request (not joined, too far behind):
    // rejoin, at once the first time, then backing off.
    this.caughtUp = false;
    if (this.refusals <= 1) {
      this.rejoin();
      return;
    }
    const id = this.outstanding.id;
    this.timer(() => {
      if (this.outstanding?.id === id) this.rejoin();
    }, Math.min(30000, 250 * 2 ** this.refusals));
  }

  onJoinRefused(msg) {
    this.joining = false;
    this.rejoinWanted = false; // the join that follows asks anew
    if (msg.code === 'not_found') {
      this.setGone('This document does not exist or is not shared with you.');
      return;
    }
    this.joinFailures++;
    // "Already joined" (a leave was lost) is cured by leaving.
    if (msg.code === 'bad_request') this.hooks.send({ type: 'leave', doc: this.doc });
    if (this.joinFailures === 3) this.notice('error', `Cannot open the document yet: ${msg.message}`);
    this.timer(() => this.join(), Math.min(30000, 500 * 2 ** this.joinFailures));
  }

  // --- helpers -----------------------------------------------------------

  /** join asks for the document at the version held, unless joined, joining or gone. */
  join() {
    if (this.joined || this.joining || this.gone) return;
    const msg = { type: 'join', doc: this.doc };
    if (this.loaded) msg.version = this.version;
    this.joining = this.hooks.send(msg) !== false;
  }

  /** rejoin leaves and joins again at the current version, keeping pending edits. */
  rejoin() {
    if (this.joining) {
      this.rejoinWanted = true; // never two joins in flight
      return;
    }
    this.hooks.send({ type: 'leave', doc: this.doc });
    this.joined = false;
    this.joining = false;
    this.sent = false;
    this.join();
  }

  /** resync drops the local text and loads the server's: leave, then join without a version. */
  resync() {
    this.outstanding = null;
    this.buffer = null;
    this.sent = false;
    this.loaded = false;
    this.presence.clear();
    this.rejoin();
  }

  /** dropPending discards pending edits, handing their text to the person. */
  dropPending(message) {
    if (!this.outstanding) return;
    const text = this.hooks.text?.();
    this.outstanding = null;
    this.buffer = null;
    this.sent = false;
    this.notice('lost', message, text);
  }

  setGone(message) {
    this.gone = 'gone';
    this.joined = false;
    this.joining = false;
    this.dropPending('Your latest edits could not be saved.');
    this.notice('gone', message);
  }

  sendOutstanding() {
    // Sent after the next join, or once recovered history is through.
    if (!this.joined || this.held) return;
    const o = this.outstanding;
    // With storage, an op goes out only once the state naming its id is
    // kept: a page reloaded in between then re-sends the same op under the
    // same id, never another op under it, nor the same edit under a new id.
    // durable() sends it when the write lands.
    if (this.hooks.isDurable && !this.hooks.isDurable(o.id)) return;
    const msg = { type: 'op', doc: this.doc, version: o.base, id: o.id, op: o.original };
    if (this.hooks.submitOp && utf8Length(JSON.stringify(msg)) > restThresholdBytes) {
      this.submitOverREST(o);
      return;
    }
    this.sent = this.hooks.send(msg) !== false;
  }

  /**
   * submitOverREST sends an op too big for a socket frame with the same op,
   * id and base over REST. The socket then brings it as an op with my id,
   * which is its ack. Failures are handled as the socket's refusals are.
   */
  submitOverREST(o) {
    this.sent = true;
    this.restFailures ??= 0;
    this.hooks.submitOp({ version: o.base, id: o.id, op: o.original }).then(() => {
      this.restFailures = 0;
    }, (err) => {
      if (this.outstanding?.id !== o.id) return;
      this.sent = false;
      const code = err.code ?? 'network';
      if (code === 'unauthorized') {
        this.notice('error', 'You are signed out: your latest edits cannot be saved until you sign in again.');
      } else if (fatalCodes.has(code) || code === 'bad_request' || code === 'unavailable') {
        this.onOpRefused({ code, message: err.message });
      } else {
        // Network, rate limits, server faults: try again later.
        this.restFailures++;
        this.timer(() => {
          if (this.outstanding?.id === o.id && !this.sent) this.sendOutstanding();
        }, Math.min(30000, 1000 * 2 ** this.restFailures));
      }
      this.changed();
    });
  }

  /** flushPresence sends my selection when synchronized, at most every presenceEveryMs. */
  flushPresence() {
    if (!this.presenceDirty || !this.joined || !this.loaded || this.held || this.outstanding || this.presenceTimer) return;
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

  notice(kind, message, text) {
    this.hooks.notice?.(kind, message, text);
  }
}
