// Doc: one open document, the public face of a DocClient. It holds the text
// as a string, takes local edits in UTF-16 positions (as editors and the DOM
// count) and hands remote changes, presence and status back as events.

import { DocClient } from './client.js';
import { Emitter } from './emitter.js';
import { Keeper } from './persist.js';
import { cpLength } from './ot.js';
import { applySpecs, localSpecs, opToChanges, specsToOp, StringDoc, toCodePoints, toUTF16 } from './text.js';

export class Doc extends Emitter {
  /**
   * Made by Session.open, not by hand.
   * @param {import('./session.js').Session} session
   * @param {string} id
   * @param {object} [opts]
   * @param {string} [opts.idPrefix]  prefix of this client's op ids (random by default)
   */
  constructor(session, id, opts = {}) {
    super();
    this.id = id;
    this.session = session;
    this.closed = false;
    this.textValue = '';
    this.scheduled = false;
    this.last = { status: null, role: null, presence: '[]' }; // what the events last told
    this.keeper = session.persist ? new Keeper(this, session.persist) : null;
    this.client = new DocClient(id, this.hooks(), opts.idPrefix);
    /** ready resolves when the document may join: kept edits, if any, are restored. */
    this.ready = this.keeper ? this.keeper.start() : null;
  }

  /** hooks are what the state machine needs from its surroundings. */
  hooks() {
    const { session } = this;
    return {
      send: (m) => session.connection.send(m),
      apply: (op) => this.applyRemote(op),
      reset: (text) => this.reset(text),
      text: () => this.textValue,
      fetchOps: (from, to) => session.rest.ops(this.id, from, to),
      submitOp: (body) => session.rest.submitOp(this.id, body),
      changed: () => {
        this.keeper?.changed();
        this.schedule();
      },
      isDurable: this.keeper ? (id) => this.keeper.isDurable(id) : undefined,
      notice: (kind, message, text) => this.emit('notice', { kind, message, text }),
    };
  }

  // --- what the document is ----------------------------------------------

  /** text is the local text: the server's with my pending edits applied. */
  get text() {
    return this.textValue;
  }

  /** version is the last server version seen, null before the first join. */
  get version() {
    return this.client.version;
  }

  /** role is 'owner', 'editor' or 'viewer' once joined, else null. */
  get role() {
    return this.client.role;
  }

  /** loaded reports whether text is a version of the server's (false until the first join). */
  get loaded() {
    return this.client.loaded;
  }

  /** pending reports local edits the server has not acknowledged yet. */
  get pending() {
    return this.client.pending;
  }

  /**
   * stored reports whether this device's storage holds every pending edit
   * (persist option), so that they survive a reload; false without it.
   */
  get stored() {
    return this.keeper?.stored ?? false;
  }

  /** editable reports whether applyLocal takes edits now (offline included). */
  get editable() {
    return this.client.editable && !this.closed;
  }

  /** state is the protocol state: 'synchronized', 'awaiting' or 'awaiting-with-buffer'. */
  get state() {
    return this.client.state;
  }

  /**
   * status sums up the document for a person: 'joining', 'saving',
   * 'saved', 'offline' (edits are kept and sent on reconnect), 'gone'
   * (deleted or no longer shared) or 'closed'.
   */
  get status() {
    if (this.closed) return 'closed';
    if (this.client.gone) return 'gone';
    if (this.session.status !== 'online') return 'offline';
    if (!this.client.loaded || !this.client.joined) return 'joining';
    return this.client.pending ? 'saving' : 'saved';
  }

  /**
   * presence lists the other connections in the document (my other tabs
   * included): {session, user: {id, name, color}, selection}, selection
   * being null or a list of {anchor, head} in UTF-16 positions of text.
   */
  get presence() {
    const doc = new StringDoc(this.textValue);
    return this.client.remoteSelections().map(({ session, user, selection }) => {
      if (!selection) return { session, user, selection: null };
      const flat = toUTF16(doc, selection.flatMap((r) => [r.anchor, r.head]));
      return { session, user, selection: selection.map((_, i) => ({ anchor: flat[2 * i], head: flat[2 * i + 1] })) };
    });
  }

  // --- what the person does ----------------------------------------------

  /**
   * applyLocal records edits made by the person: changes is an array of
   * {from, to, insert} in UTF-16 positions of text before the edit (like
   * CodeMirror's change specs), or a CodeMirror ChangeSet. A change that
   * would split a character is widened to it, and lone surrogates, U+0000
   * and \r are cleaned from inserts, so text may then differ from what the
   * caller holds: the 'change' event (remote: false) says what was applied.
   * It returns false, changing nothing, when the document is not editable.
   */
  applyLocal(changes) {
    if (!this.editable) return false;
    const doc = new StringDoc(this.textValue);
    const specs = localSpecs(doc, changes);
    if (specs.length === 0) return true;
    const op = specsToOp(specs, doc);
    this.textValue = applySpecs(this.textValue, specs);
    this.emit('change', { changes: specs, text: this.textValue, remote: false });
    this.client.local(op);
    return true;
  }

  /**
   * setSelection shares my selection with the others: a list of {anchor,
   * head} in UTF-16 positions of text, or null for none.
   */
  setSelection(ranges) {
    if (this.closed) return;
    if (!ranges) {
      this.client.select(null);
      return;
    }
    const flat = toCodePoints(new StringDoc(this.textValue), ranges.flatMap((r) => [r.anchor, r.head ?? r.anchor]));
    this.client.select(ranges.map((_, i) => ({ anchor: flat[2 * i], head: flat[2 * i + 1] })));
  }

  /** close leaves the document; the Doc is done with. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.keeper?.close();
    this.session.forget(this);
    this.flush();
  }

  // --- from the state machine --------------------------------------------

  /** applyRemote applies a remote op (code points); it throws if the op does not fit. */
  applyRemote(op) {
    const changes = opToChanges(op, new StringDoc(this.textValue));
    this.textValue = applySpecs(this.textValue, changes);
    this.emit('change', { changes, text: this.textValue, remote: true });
  }

  /** reset replaces the text with the server's (first load, reload). */
  reset(text) {
    const old = this.textValue;
    this.textValue = text;
    // My selection was in the old text: keep it inside the new one until
    // whoever shows the text sets it again.
    const n = cpLength(text);
    const sel = this.client.selection;
    if (sel) this.client.selection = sel.map((r) => ({ anchor: Math.min(r.anchor, n), head: Math.min(r.head, n) }));
    this.emit('change', { changes: [{ from: 0, to: old.length, insert: text }], text, remote: true, reset: true });
  }

  /** schedule runs flush once after the current frame or edit, never inside it. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** flush emits 'status' (status or state changed), 'role' and 'presence' for whatever changed. */
  flush() {
    const status = this.status;
    const key = `${status} ${this.state} ${this.stored}`; // pending edits matter when offline, and whether they are kept
    if (key !== this.last.status) {
      this.last.status = key;
      this.emit('status', status);
    }
    if (this.role !== this.last.role) {
      this.last.role = this.role;
      this.emit('role', this.role);
    }
    if (this.closed) return;
    const presence = this.presence;
    const seen = JSON.stringify(presence);
    if (seen !== this.last.presence) {
      this.last.presence = seen;
      this.emit('presence', presence);
    }
  }
}
