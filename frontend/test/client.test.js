// The client state machine (docs/protocol.md §9, §10): table tests of each
// transition, then many clients editing at random against a simulated
// sequencer with forced disconnects, lost messages and re-sends, checking
// that all converge on the server's text and that no edit is applied twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DocClient } from '../client/client.js';
import { apply, Builder, compose, cpLength, transform } from '../client/ot.js';

/** A client over a plain string, recording what it sends. */
function makeClient(text = '', opts = {}) {
  const sent = [];
  const timers = [];
  const state = { text, online: true };
  const c = new DocClient('d1', {
    send: (m) => {
      if (!state.online) return false;
      sent.push(structuredClone(m));
      return true;
    },
    apply: (op) => {
      state.text = apply(state.text, op);
    },
    reset: (t) => {
      state.text = t;
    },
    text: () => state.text,
    fetchOps: opts.fetchOps,
    submitOp: opts.submitOp,
    notice: opts.notice,
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
  }, 'p');
  return { c, sent, state, timers };
}

/** edit applies op locally, as the editor does, and tells the client. */
function edit(k, op) {
  k.state.text = apply(k.state.text, op);
  k.c.local(op);
}

function joinedAt(k, content, version, role = 'editor') {
  k.c.connected({ session: 's1', user: { id: 'me', name: 'Me', color: '#000000' } });
  k.c.receive({ type: 'joined', doc: 'd1', version, role, content, presence: [] });
}

const ops = (sent) => sent.filter((m) => m.type === 'op');

test('first join loads the content and sends no version', () => {
  const k = makeClient();
  k.c.connected({ session: 's1', user: { id: 'me' } });
  assert.deepEqual(k.sent, [{ type: 'join', doc: 'd1' }]);
  k.c.receive({ type: 'joined', doc: 'd1', version: 7, role: 'editor', content: 'héllo', presence: [] });
  assert.equal(k.state.text, 'héllo');
  assert.equal(k.c.version, 7);
  assert.equal(k.c.state, 'synchronized');
});

test('Synchronized -> AwaitingAck -> AwaitingAckWithBuffer -> ack sends the buffer', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 3);
  edit(k, [3, 'd']);
  assert.equal(k.c.state, 'awaiting');
  assert.deepEqual(ops(k.sent), [{ type: 'op', doc: 'd1', version: 3, id: 'p-1', op: [3, 'd'] }]);
  edit(k, [4, 'e']);
  edit(k, [5, 'f']);
  assert.equal(k.c.state, 'awaiting-with-buffer');
  assert.equal(ops(k.sent).length, 1, 'nothing more is sent while awaiting');
  k.c.receive({ type: 'ack', doc: 'd1', id: 'other', version: 4 });
  assert.equal(k.c.state, 'awaiting-with-buffer', 'an ack for another id is ignored');
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 4 });
  assert.equal(k.c.state, 'awaiting');
  assert.deepEqual(ops(k.sent)[1], { type: 'op', doc: 'd1', version: 4, id: 'p-2', op: [4, 'ef'] });
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-2', version: 5 });
  assert.equal(k.c.state, 'synchronized');
  assert.equal(k.c.version, 5);
});

test('remote ops are transformed over outstanding and buffer', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 0);
  edit(k, ['X', 3]); // outstanding
  edit(k, [4, 'Y']); // buffer
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'r1', user: 'u2', op: [1, -1, 'Z', 1] });
  assert.equal(k.state.text, 'XaZcY');
  assert.equal(k.c.version, 1);
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 2 });
  // The buffer goes out transformed over the remote op, at version 2.
  const last = ops(k.sent).at(-1);
  assert.equal(last.version, 2);
  assert.equal(apply('XaZc', last.op), 'XaZcY');
});

test('an op with my outstanding id is my ack', () => {
  const k = makeClient();
  joinedAt(k, '', 0);
  edit(k, ['a']);
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'p-1', user: 'me', op: ['a'] });
  assert.equal(k.c.state, 'synchronized');
  assert.equal(k.state.text, 'a', 'not applied twice');
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 1 });
  assert.equal(k.c.version, 1, 'a second, redundant ack is ignored');
});

test('a composed op (a slow reader\'s) jumps versions: applied as one when synchronized', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 3);
  // Versions 4 to 6, composed by the server: "abc" -> "abcdef".
  k.c.receive({ type: 'op', doc: 'd1', version: 6, from: 4, id: '', user: '', op: [3, 'def'] });
  assert.equal(k.state.text, 'abcdef');
  assert.equal(k.c.version, 6);
  assert.equal(k.c.state, 'synchronized');
  // One that does not start where the client is, is out of step.
  const j = makeClient();
  joinedAt(j, 'abc', 3);
  j.c.receive({ type: 'op', doc: 'd1', version: 6, from: 5, id: '', user: '', op: [3, 'ef'] });
  assert.notEqual(j.c.version, 6, 'a gap is not papered over');
});

test('a composed op meeting my pending edit: its ops are fetched one by one', async () => {
  // "ab": the server inserts x at the end (v1) then deletes b (v2), while
  // I insert q before b. Over the composed op my q would land after x; the
  // server puts it where it moves it over each op in turn: before x.
  const history = [
    { version: 1, id: 'r1', user: 'u2', op: [2, 'x'] },
    { version: 2, id: 'r2', user: 'u2', op: [1, -1, 1] },
  ];
  let fetched = null;
  const k = makeClient('', { fetchOps: async (from, to) => { fetched = [from, to]; return history.slice(from - 1, to); } });
  joinedAt(k, 'ab', 0);
  edit(k, [1, 'q', 1]); // outstanding, base 0
  k.c.receive({ type: 'op', doc: 'd1', version: 2, from: 1, id: '', user: '', op: [1, 'x', -1] });
  k.c.receive({ type: 'presence', doc: 'd1', version: 2, session: 's9', user: { id: 'u2' }, selection: [] }); // held meanwhile
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(fetched, [1, 2]);
  assert.equal(k.c.version, 2);
  assert.equal(k.state.text, 'aqx', 'my edit where the server puts it');
  assert.equal(k.c.remoteSelections().length, 1, 'what was held is handled after');
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 3 });
  assert.equal(k.c.state, 'synchronized');
});

test('a composed op that holds my own op: the ack comes from history and my buffer goes out', async () => {
  // My op p-1 (sent over REST, say) is stored as version 2, after u2's at 1;
  // the socket brings both as one composed op while p-1 is outstanding and
  // more edits wait in the buffer.
  const history = [
    { version: 1, id: 'r1', user: 'u2', op: ['x', 2] },
    { version: 2, id: 'p-1', user: 'me', op: [3, 'a'] },
  ];
  const k = makeClient('', { fetchOps: async (from, to) => history.slice(from - 1, to) });
  joinedAt(k, 'ab', 0);
  edit(k, [2, 'a']); // p-1, outstanding
  edit(k, [3, 'b']); // buffered
  k.c.receive({ type: 'op', doc: 'd1', version: 2, from: 1, id: '', user: '', op: ['x', 2, 'a'] });
  await new Promise((r) => setImmediate(r));
  assert.equal(k.c.version, 2);
  assert.equal(k.state.text, 'xabab', 'my edits where the server has them');
  const sent = ops(k.sent).at(-1);
  assert.equal(sent.id, 'p-2', 'the buffer is sent once the history has acked p-1');
  assert.equal(sent.version, 2);
});

test('a composed op while the history cannot be fetched: rejoin at my version', async () => {
  const k = makeClient('', { fetchOps: async () => { throw new Error('offline'); } });
  joinedAt(k, 'ab', 0);
  edit(k, [2, 'a']);
  k.c.receive({ type: 'op', doc: 'd1', version: 2, from: 1, id: '', user: '', op: ['x', 2, 'y'] });
  for (let i = 0; i < 10 && !k.sent.some((m) => m.type === 'leave'); i++) {
    for (const t of k.timers.splice(0)) t.fn();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(k.sent.filter((m) => m.type !== 'op').slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1', version: 0 }]);
  assert.equal(k.state.text, 'aba', 'my edit is kept');
});

test('reconnect: catch-up ops, then the original op is re-sent unchanged', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 10);
  edit(k, [3, '!']);
  k.c.disconnected();
  edit(k, [4, '?']); // typed offline: buffered
  k.c.connected({ session: 's2', user: { id: 'me' } });
  assert.deepEqual(k.sent.at(-1), { type: 'join', doc: 'd1', version: 10 });
  k.c.receive({
    type: 'joined', doc: 'd1', version: 11, role: 'editor', presence: [],
    ops: [{ version: 11, id: 'r', user: 'u2', op: ['>', 3] }],
  });
  assert.equal(k.state.text, '>abc!?');
  assert.deepEqual(k.sent.at(-1), { type: 'op', doc: 'd1', version: 10, id: 'p-1', op: [3, '!'] });
});

test('typing offline from the start is sent after the join', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 1);
  k.c.disconnected();
  k.state.online = false;
  edit(k, ['1', 3]);
  edit(k, ['2', 4]);
  assert.equal(ops(k.sent).length, 0);
  k.state.online = true;
  k.c.connected({ session: 's2', user: { id: 'me' } });
  k.c.receive({ type: 'joined', doc: 'd1', version: 1, role: 'editor', presence: [], ops: [] });
  assert.deepEqual(ops(k.sent), [{ type: 'op', doc: 'd1', version: 1, id: 'p-1', op: ['1', 3] }]);
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 2 });
  assert.deepEqual(ops(k.sent)[1], { type: 'op', doc: 'd1', version: 2, id: 'p-2', op: ['2', 4] });
});

test('rejoin with content while edits are pending recovers the history over REST', async () => {
  let asked;
  const k = makeClient('', {
    fetchOps: async (from, to) => {
      asked = [from, to];
      return [
        { version: 2, id: 'r1', user: 'u2', op: [1, 'B', 2] }, // "aBbc"
        { version: 3, id: 'p-1', user: 'me', op: [5, '!'] }, // my op, sequenced
      ];
    },
  });
  joinedAt(k, 'abc', 1);
  edit(k, [3, '!']);
  k.c.disconnected();
  edit(k, [4, '?']);
  k.c.connected({ session: 's2', user: { id: 'me' } });
  k.c.receive({ type: 'joined', doc: 'd1', version: 3, role: 'editor', presence: [], content: 'aBbc!' });
  k.c.receive({ type: 'op', doc: 'd1', version: 4, id: 'r2', user: 'u2', op: ['>', 5] }); // held
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked, [2, 3]);
  assert.equal(k.state.text, '>aBbc!?');
  assert.equal(k.c.version, 4);
  assert.deepEqual(k.sent.at(-1).op.length > 0 && k.sent.at(-1).id, 'p-2', 'the buffer went out after the recovered ack');
});

test('refused ops are dropped and the document reloaded', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 1);
  edit(k, [3, 'x']);
  edit(k, [4, 'y']);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'too_large', message: 'too large' });
  assert.equal(k.c.state, 'synchronized');
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1' }]);
  k.c.receive({ type: 'joined', doc: 'd1', version: 1, role: 'editor', presence: [], content: 'abc' });
  assert.equal(k.state.text, 'abc');
});

test('rate limited ops are re-sent unchanged later', () => {
  const k = makeClient();
  joinedAt(k, '', 0);
  edit(k, ['a']);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'rate_limited', message: 'slow down' });
  assert.equal(k.timers.length, 1);
  k.timers[0].fn();
  assert.deepEqual(ops(k.sent), [ops(k.sent)[0], ops(k.sent)[0]]);
});

test('demotion to viewer: the editor locks, the refused edit is handed back', () => {
  const notices = [];
  const k = makeClient('', { notice: (kind, message, text) => notices.push({ kind, text }) });
  joinedAt(k, 'abc', 0);
  edit(k, ['x', 3]);
  k.c.receive({ type: 'role', doc: 'd1', role: 'viewer' });
  assert.equal(k.c.canEdit, false);
  assert.equal(k.c.editable, false);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'forbidden', message: 'viewers cannot edit' });
  assert.equal(k.c.pending, false);
  assert.deepEqual(notices, [{ kind: 'lost', text: 'xabc' }]);
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1' }]);
});

test('after a rejoin, messages of the old membership are dropped', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 5);
  edit(k, ['x', 3]);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'unavailable', message: 'room restarted' });
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1', version: 5 }]);
  // Sent before the server read the leave: the join's catch-up repeats it.
  k.c.receive({ type: 'op', doc: 'd1', version: 6, id: 'r1', user: 'u2', op: [3, 'y'] });
  k.c.receive({ type: 'presence', doc: 'd1', version: 6, session: 's9', user: { id: 'u2' }, selection: null });
  assert.equal(k.state.text, 'xabc');
  k.c.receive({
    type: 'joined', doc: 'd1', version: 7, role: 'editor', presence: [],
    ops: [{ version: 6, id: 'r1', user: 'u2', op: [3, 'y'] }, { version: 7, id: 'p-1', user: 'me', op: ['x', 4] }],
  });
  assert.equal(k.state.text, 'xabcy');
  assert.equal(k.c.version, 7);
  assert.equal(k.c.state, 'synchronized');
  assert.equal(ops(k.sent).length, 1, 'the op was acknowledged by the catch-up, not re-sent');
});

test('while a resync loads, typing is ignored and the text replaced', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 2);
  edit(k, [3, '!']);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'too_large', message: 'too large' });
  assert.equal(k.c.editable, false);
  edit(k, [4, '?']); // the editor is read only; were it not, the reset drops this
  assert.equal(k.c.pending, false);
  k.c.receive({ type: 'joined', doc: 'd1', version: 2, role: 'editor', presence: [], content: 'abc' });
  assert.equal(k.state.text, 'abc');
  assert.equal(k.c.editable, true);
  edit(k, [3, 'Z']);
  assert.deepEqual(ops(k.sent).at(-1), { type: 'op', doc: 'd1', version: 2, id: 'p-2', op: [3, 'Z'] });
});

test('an op that does not fit the local text reloads the document', () => {
  const notices = [];
  const k = makeClient('', { notice: (kind, message, text) => notices.push({ kind, text }) });
  joinedAt(k, 'abc', 0);
  edit(k, ['x', 3]);
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'r', user: 'u2', op: [9, 'y'] });
  assert.equal(k.c.version, 0, 'the version does not move past an op not applied');
  assert.equal(k.c.loaded, false);
  assert.deepEqual(notices, [{ kind: 'lost', text: 'xabc' }]);
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1' }]);
});

test('a large op goes over REST, and the socket brings its ack', async () => {
  const posted = [];
  const k = makeClient('', { submitOp: async (body) => { posted.push(body); return { version: 1 }; } });
  joinedAt(k, '', 0);
  const big = 'x'.repeat(100 * 1024);
  edit(k, [big]);
  assert.equal(ops(k.sent).length, 0, 'not over the socket');
  assert.deepEqual(posted, [{ version: 0, id: 'p-1', op: [big] }]);
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'p-1', user: 'me', op: [big] });
  assert.equal(k.c.state, 'synchronized');
  assert.equal(k.state.text, big);
});

test('a refused join is retried, leaving first after bad_request', () => {
  const k = makeClient();
  k.c.connected({ session: 's1', user: { id: 'me' } });
  k.c.receive({ type: 'error', doc: 'd1', code: 'rate_limited', message: 'slow down' });
  assert.equal(k.c.joining, false);
  k.timers.shift().fn();
  assert.deepEqual(k.sent.at(-1), { type: 'join', doc: 'd1' });
  k.c.receive({ type: 'error', doc: 'd1', code: 'bad_request', message: 'already joined' });
  assert.deepEqual(k.sent.at(-1), { type: 'leave', doc: 'd1' });
  k.timers.shift().fn();
  assert.deepEqual(k.sent.at(-1), { type: 'join', doc: 'd1' });
  k.c.receive({ type: 'joined', doc: 'd1', version: 0, role: 'editor', presence: [], content: '' });
  assert.equal(k.c.joined, true);
});

test('an op refused twice as too far behind is sent again at the current version', () => {
  const k = makeClient();
  joinedAt(k, 'ab', 1);
  edit(k, [2, '!']);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'bad_request', message: 'too far behind: rejoin' });
  k.c.receive({
    type: 'joined', doc: 'd1', version: 2, role: 'editor', presence: [],
    ops: [{ version: 2, id: 'r', user: 'u2', op: ['>', 2] }],
  });
  assert.deepEqual(ops(k.sent).at(-1), { type: 'op', doc: 'd1', version: 1, id: 'p-1', op: [2, '!'] }, 're-sent unchanged first');
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'bad_request', message: 'too far behind: rejoin' });
  assert.deepEqual(ops(k.sent).at(-1), { type: 'op', doc: 'd1', version: 2, id: 'p-2', op: [3, '!'] });
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-2', version: 3 });
  assert.equal(k.state.text, '>ab!');
  assert.equal(k.c.state, 'synchronized');
});

test('when history cannot be fetched, the server text is taken and mine handed back', async () => {
  let calls = 0;
  const notices = [];
  const k = makeClient('', {
    fetchOps: async () => {
      calls++;
      throw new Error('503');
    },
    notice: (kind, message, text) => notices.push({ kind, text }),
  });
  joinedAt(k, 'abc', 1);
  edit(k, [3, '!']);
  k.c.disconnected();
  k.c.connected({ session: 's2', user: { id: 'me' } });
  k.c.receive({ type: 'joined', doc: 'd1', version: 5000, role: 'editor', presence: [], content: 'server text' });
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    for (const t of k.timers.splice(0)) t.fn();
  }
  assert.equal(calls, 3, 'tried three times');
  assert.equal(k.c.pending, false);
  assert.deepEqual(notices, [{ kind: 'lost', text: 'abc!' }]);
  // The server's text is loaded anew: leave, then join without a version.
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1' }]);
  k.c.receive({ type: 'joined', doc: 'd1', version: 5001, role: 'editor', presence: [], content: 'server text!' });
  assert.equal(k.state.text, 'server text!');
  assert.equal(k.c.version, 5001);
});

test('my selection moves with remote edits before it is sent', () => {
  const k = makeClient();
  joinedAt(k, 'abcdef', 0);
  edit(k, [6, '!']);
  k.c.select([{ anchor: 4, head: 4 }]);
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'r', user: 'u2', op: ['12', 6] });
  k.c.lastPresenceAt = 0; // as if the throttle's time had passed
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 2 });
  assert.deepEqual(k.sent.at(-1), { type: 'presence', doc: 'd1', version: 2, selection: [{ anchor: 6, head: 6 }] });
});

test('presence: sent only when synchronized, remote selections follow edits', () => {
  const k = makeClient();
  joinedAt(k, 'abcdef', 0);
  k.c.lastPresenceAt = 0;
  k.c.select([{ anchor: 1, head: 1 }]);
  assert.deepEqual(k.sent.at(-1), { type: 'presence', doc: 'd1', version: 0, selection: [{ anchor: 1, head: 1 }] });
  k.c.receive({ type: 'presence', doc: 'd1', version: 0, session: 's9', user: { id: 'u2', name: 'Ann', color: '#ff0000' }, selection: [{ anchor: 2, head: 4 }] });
  edit(k, ['😀😀', 6]); // my insert before Ann's selection
  assert.deepEqual(k.c.remoteSelections()[0].selection, [{ anchor: 4, head: 6 }]);
  k.c.lastPresenceAt = 0;
  k.c.select([{ anchor: 2, head: 2 }]);
  assert.equal(k.sent.at(-1).type, 'op', 'no presence while awaiting an ack');
  k.c.receive({ type: 'op', doc: 'd1', version: 1, id: 'r', user: 'u2', op: [2, 'Z', 4] }); // Ann types at her anchor
  assert.deepEqual(k.c.remoteSelections()[0].selection, [{ anchor: 5, head: 7 }]);
  k.c.receive({ type: 'ack', doc: 'd1', id: 'p-1', version: 2 });
  assert.deepEqual(k.c.remoteSelections()[0].selection, [{ anchor: 5, head: 7 }]);
  // The presence held back goes out once synchronized (after its throttle).
  for (const t of k.timers.splice(0)) t.fn();
  assert.deepEqual(k.sent.at(-1), { type: 'presence', doc: 'd1', version: 2, selection: [{ anchor: 2, head: 2 }] });
  k.c.receive({ type: 'presence', doc: 'd1', version: 2, session: 's9', left: true, user: { id: 'u2' } });
  assert.deepEqual(k.c.remoteSelections(), []);
});

// --- a simulated sequencer ------------------------------------------------

/** Server follows the sequencing rules of the real room, in memory. */
class Server {
  constructor(text, windowOps, rand) {
    this.text = text;
    this.history = []; // {version, id, user, op}
    this.windowOps = windowOps;
    this.conns = new Set();
    this.rand = rand;
  }

  /** restart drops every member, as a room that failed and restarted does. */
  restart() {
    for (const c of this.conns) {
      if (!c.joined) continue;
      c.joined = false;
      c.toClient.push({ type: 'error', doc: 'd1', code: 'unavailable', message: 'room restarted' });
    }
  }

  get version() {
    return this.history.length;
  }

  handle(conn, msg) {
    const reply = (m) => conn.toClient.push(m);
    switch (msg.type) {
      case 'join': {
        if (conn.joined) return reply({ type: 'error', doc: 'd1', code: 'bad_request', message: 'already joined' });
        if (this.rand(20) === 0) return reply({ type: 'error', doc: 'd1', code: 'rate_limited', message: 'slow down' });
        conn.joined = true;
        const v = msg.version;
        if (v != null && v <= this.version && this.version - v <= this.windowOps) {
          reply({ type: 'joined', doc: 'd1', version: this.version, role: 'editor', presence: [], ops: this.history.slice(v) });
        } else {
          reply({ type: 'joined', doc: 'd1', version: this.version, role: 'editor', presence: [], content: this.text });
        }
        return;
      }
      case 'leave':
        conn.joined = false;
        return;
      case 'presence':
        return;
      case 'op': {
        if (!conn.joined) return reply({ type: 'error', doc: 'd1', id: msg.id, code: 'bad_request', message: 'not joined' });
        if (this.rand(15) === 0) return reply({ type: 'error', doc: 'd1', id: msg.id, code: 'rate_limited', message: 'slow down' });
        assert.ok(msg.version <= this.version, 'op from the future');
        const prior = this.history.find((h) => h.user === conn.user && h.id === msg.id);
        if (prior) {
          assert.ok(prior.version > msg.version, `op id ${msg.id} reused`);
          return reply({ type: 'ack', doc: 'd1', id: msg.id, version: prior.version });
        }
        let op = msg.op;
        for (const h of this.history.slice(msg.version)) [, op] = transform(h.op, op);
        this.text = apply(this.text, op);
        const rec = { version: this.version + 1, id: msg.id, user: conn.user, op };
        this.history.push(rec);
        reply({ type: 'ack', doc: 'd1', id: msg.id, version: rec.version });
        for (const other of this.conns) {
          if (other !== conn && other.joined) other.toClient.push({ type: 'op', doc: 'd1', ...rec });
        }
      }
    }
  }
}

/** compact composes runs of consecutive remote ops in a client's queue, as
 * the server does for a client that falls behind (acks keep their place). */
function compact(queue) {
  const out = [];
  for (const m of queue) {
    const prev = out.at(-1);
    if (m.type === 'op' && prev?.type === 'op' && prev.version + 1 === (m.from ?? m.version)) {
      out[out.length - 1] = { type: 'op', doc: m.doc, version: m.version, from: prev.from ?? prev.version, id: '', user: '', op: compose(prev.op, m.op) };
    } else {
      out.push(m);
    }
  }
  queue.splice(0, queue.length, ...out);
}

function lcg(seed) {
  return (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
}

const alphabet = ['a', 'b', 'c', ' ', '\n', 'é', '中', '😀', '🎉'];

function randomEdit(rand, text) {
  const n = cpLength(text);
  // A third of the edits go to the start or the end, where ties are common.
  const pos = rand(3) === 0 ? (rand(2) === 0 ? 0 : n) : rand(n + 1);
  const b = new Builder().retain(pos);
  if (rand(3) === 0 && pos < n) {
    const del = 1 + rand(Math.min(3, n - pos));
    b.delete(del).retain(n - pos - del);
  } else {
    b.insert(Array.from({ length: 1 + rand(3) }, () => alphabet[rand(alphabet.length)]).join('')).retain(n - pos);
  }
  return b.op();
}

for (const [name, windowOps] of [['catch-up from the socket', 1000], ['recovery over REST', 3]]) {
  test(`random concurrent edits with disconnects converge (${name})`, async () => {
    for (let round = 0; round < 60; round++) {
      const rand = lcg(round + 1);
      const server = new Server('start', windowOps, rand);
      const timers = []; // the clients' timers, fired at random
      const clients = [];
      for (let i = 0; i < 4; i++) {
        const conn = { user: `u${i}`, toServer: [], toClient: [], joined: false, open: true };
        const k = { conn, text: '', sessions: 0 };
        k.c = new DocClient('d1', {
          send: (m) => {
            if (!k.conn.open) return false;
            k.conn.toServer.push(structuredClone(m));
            return true;
          },
          apply: (op) => {
            k.text = apply(k.text, op);
          },
          reset: (t) => {
            k.text = t;
          },
          fetchOps: async (from, to) => server.history.slice(from - 1, to),
          setTimeout: (fn) => timers.push(fn),
        }, `c${i}`);
        server.conns.add(conn);
        clients.push(k);
        k.c.connected({ session: `s${i}-0`, user: { id: conn.user } });
      }
      const reconnect = (k) => {
        server.conns.delete(k.conn);
        // Messages to the server may or may not have arrived; those to the client are lost.
        if (rand(2) === 0) for (const m of k.conn.toServer) server.handle(k.conn, m);
        const conn = { user: k.conn.user, toServer: [], toClient: [], joined: false, open: true };
        k.conn.open = false;
        k.c.disconnected();
        k.conn = conn;
        server.conns.add(conn);
        k.c.connected({ session: `s-${++k.sessions}`, user: { id: conn.user } });
      };
      const settle = async () => {
        await new Promise((r) => setImmediate(r));
      };
      for (let step = 0; step < 300; step++) {
        const k = clients[rand(clients.length)];
        const r = rand(10);
        if (r < 4 && k.c.loaded) {
          const op = randomEdit(rand, k.text);
          k.text = apply(k.text, op);
          k.c.local(op);
        } else if (r < 6 && k.conn.toServer.length) {
          server.handle(k.conn, k.conn.toServer.shift());
        } else if (r < 9 && k.conn.toClient.length) {
          if (rand(4) === 0) compact(k.conn.toClient);
          k.c.receive(k.conn.toClient.shift());
          await settle();
        } else if (r === 9 && rand(4) === 0) {
          reconnect(k);
        } else if (r === 9 && rand(3) === 0) {
          server.restart();
        } else if (r === 9 && timers.length) {
          timers.splice(rand(timers.length), 1)[0]();
        }
      }
      // Deliver everything, and fire every timer, until quiet.
      for (let busy = true; busy;) {
        busy = false;
        while (timers.length) {
          timers.shift()();
          busy = true;
        }
        for (const k of clients) {
          while (k.conn.toServer.length) {
            server.handle(k.conn, k.conn.toServer.shift());
            busy = true;
          }
          while (k.conn.toClient.length) {
            k.c.receive(k.conn.toClient.shift());
            await settle();
            busy = true;
          }
        }
        await settle();
      }
      for (const [i, k] of clients.entries()) {
        const st = { joined: k.c.joined, joining: k.c.joining, sent: k.c.sent, loaded: k.c.loaded, gone: k.c.gone, out: k.c.outstanding?.id, connJoined: k.conn.joined, open: k.conn.open };
        assert.equal(k.c.pending, false, `round ${round} client ${i} has unacknowledged edits: ${JSON.stringify(st)}`);
        assert.equal(k.text, server.text, `round ${round} client ${i} diverged`);
        assert.equal(k.c.version, server.version, `round ${round} client ${i} version`);
      }
      const ids = server.history.map((h) => `${h.user}/${h.id}`);
      assert.equal(new Set(ids).size, ids.length, 'an op was applied twice');
    }
  });
}

test('nothing is sent while history is being recovered', async () => {
  let release;
  const k = makeClient('', { fetchOps: () => new Promise((r) => { release = r; }) });
  joinedAt(k, 'abc', 1);
  edit(k, [3, '!']);
  k.c.receive({ type: 'error', doc: 'd1', id: 'p-1', code: 'rate_limited', message: 'slow down' });
  const retry = k.timers.pop();
  k.c.disconnected();
  k.c.connected({ session: 's2', user: { id: 'me' } });
  k.c.receive({ type: 'joined', doc: 'd1', version: 2, role: 'editor', presence: [], content: 'abcZ' });
  const before = k.sent.length;
  retry.fn(); // fires during the recovery
  assert.equal(k.sent.length, before, 'the retry waits for the recovery');
  release([{ version: 2, id: 'r', user: 'u2', op: [3, 'Z'] }]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(k.sent.at(-1), { type: 'op', doc: 'd1', version: 1, id: 'p-1', op: [3, '!'] });
  assert.equal(k.state.text, 'abcZ!');
});

test('a reconnect during recovery joins at the recovered version', async () => {
  let release;
  const k = makeClient('', { fetchOps: () => new Promise((r) => { release = r; }) });
  joinedAt(k, 'abc', 1);
  edit(k, [3, '!']);
  k.c.disconnected();
  k.c.connected({ session: 's2', user: { id: 'me' } });
  k.c.receive({ type: 'joined', doc: 'd1', version: 3, role: 'editor', presence: [], content: 'abc!Z' });
  k.c.disconnected();
  k.c.connected({ session: 's3', user: { id: 'me' } });
  assert.equal(k.sent.filter((m) => m.type === 'join').length, 2, 'no join while recovering');
  release([{ version: 2, id: 'p-1', user: 'me', op: [3, '!'] }, { version: 3, id: 'r', user: 'u2', op: [4, 'Z'] }]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(k.sent.at(-1), { type: 'join', doc: 'd1', version: 3 });
  assert.equal(k.state.text, 'abc!Z');
  assert.equal(k.c.pending, false);
});

test('a resync asked while a join is in flight waits for its answer', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 1);
  k.c.disconnected();
  k.c.connected({ session: 's2', user: { id: 'me' } }); // join {version: 1} in flight
  k.c.resync();
  assert.deepEqual(k.sent.at(-1), { type: 'join', doc: 'd1', version: 1 }, 'no second join yet');
  k.c.receive({ type: 'joined', doc: 'd1', version: 1, role: 'editor', presence: [], ops: [] });
  assert.deepEqual(k.sent.slice(-2), [{ type: 'leave', doc: 'd1' }, { type: 'join', doc: 'd1' }]);
  k.c.receive({ type: 'joined', doc: 'd1', version: 1, role: 'editor', presence: [], content: 'abc' });
  assert.equal(k.c.editable, true);
});

test('refusals that keep coming back off instead of storming', () => {
  const k = makeClient();
  joinedAt(k, 'abc', 1);
  edit(k, [3, '!']);
  for (let i = 0; i < 20 && k.sent.length < 200; i++) {
    const last = k.sent.at(-1);
    if (last.type === 'join') k.c.receive({ type: 'joined', doc: 'd1', version: 1, role: 'editor', presence: [], ops: [] });
    else if (last.type === 'op') k.c.receive({ type: 'error', doc: 'd1', id: last.id, code: 'internal', message: 'read history' });
    else break;
  }
  assert.ok(k.sent.length < 12, `${k.sent.length} messages without any wait`);
  assert.ok(k.timers.length > 0 && k.timers.at(-1).ms >= 1000, 'the next try waits');
  assert.equal(k.c.pending, true, 'the edit is still kept');
});
