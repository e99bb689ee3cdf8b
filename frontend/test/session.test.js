// The package's public API (frontend/client/index.js): connect, open, text,
// applyLocal, events, reconnect with the offline buffer, and the three ways
// to authenticate, against an in-memory server behind a fake WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, TandemError } from '../client/index.js';
import { apply, transform } from '../client/ot.js';
import { applySpecs, localSpecs, StringDoc } from '../client/text.js';

/** FakeServer sequences one document's ops for any number of fake sockets. */
class FakeServer {
  constructor(text = '') {
    this.text = text;
    this.history = []; // {version, id, user, op}
    this.sockets = new Set();
    this.urls = []; // every socket address asked for
    this.requests = []; // every REST request: {method, path, auth}
    this.tickets = new Set();
    this.issued = 0; // tickets handed out
    this.n = 0;
  }

  /** WebSocket is a fake WebSocket class connected to this server. */
  get WebSocket() {
    const server = this;
    return class FakeWebSocket {
      constructor(url, protocol) {
        this.url = url;
        this.protocol = protocol;
        this.readyState = 0;
        this.user = `u${server.n % 2}`; // two users, alternating
        this.joined = false;
        server.urls.push(url);
        setImmediate(() => server.accept(this));
      }

      send(data) {
        assert.equal(this.readyState, 1, 'send on a socket that is not open');
        setImmediate(() => server.handle(this, JSON.parse(data)));
      }

      close(code = 1000, reason = '') {
        if (this.readyState === 3) return;
        this.readyState = 3;
        server.sockets.delete(this);
        setImmediate(() => this.onclose?.({ code, reason }));
      }
    };
  }

  /** fetch is a fake fetch for this server's REST routes. */
  get fetch() {
    return async (url, init) => {
      const path = new URL(url).pathname + new URL(url).search;
      const auth = init.headers.Authorization ?? null;
      this.requests.push({ method: init.method, path, auth });
      const json = (status, body) => ({ ok: status < 300, status, json: async () => body });
      if (init.method === 'POST' && path === '/api/socket-tickets') {
        if (auth !== 'Bearer jwt-1') return json(401, { code: 'unauthorized', message: 'bad token' });
        const ticket = `t${++this.issued}`;
        this.tickets.add(ticket);
        return json(201, { ticket, expires_at: '2030-01-01T00:00:00Z' });
      }
      const m = path.match(/^\/api\/docs\/d1\/ops\?from=(\d+)&to=(\d+)$/);
      if (m) return json(200, { ops: this.history.slice(Number(m[1]) - 1, Number(m[2])) });
      if (path === '/api/me') return json(200, { user: { id: 'u0' } });
      return json(404, { code: 'not_found', message: path });
    };
  }

  accept(ws) {
    if (ws.readyState !== 0) return;
    const ticket = new URL(ws.url).searchParams.get('ticket');
    if (ticket !== null && !this.tickets.delete(ticket)) {
      ws.close(1006); // a refused handshake: the browser sees a close
      return;
    }
    this.n++;
    ws.readyState = 1;
    this.sockets.add(ws);
    this.send(ws, { type: 'hello', session: `s${this.n}`, user: { id: ws.user, name: ws.user.toUpperCase(), color: '#123456' } });
  }

  send(ws, msg) {
    if (ws.readyState === 1) ws.onmessage?.({ data: JSON.stringify(msg) });
  }

  handle(ws, msg) {
    if (ws.readyState !== 1) return;
    if (msg.type === 'join') {
      ws.joined = true;
      const v = msg.version;
      const base = { type: 'joined', doc: 'd1', version: this.history.length, role: 'editor', presence: this.presenceOf(ws) };
      this.send(ws, v == null ? { ...base, content: this.text } : { ...base, ops: this.history.slice(v) });
    } else if (msg.type === 'leave') {
      ws.joined = false;
    } else if (msg.type === 'presence') {
      ws.selection = msg.selection;
      for (const o of this.sockets) {
        if (o !== ws && o.joined) this.send(o, { type: 'presence', doc: 'd1', version: msg.version, session: ws.url, user: { id: ws.user, name: ws.user, color: '#ff0000' }, selection: msg.selection });
      }
    } else if (msg.type === 'op') {
      this.onOp(ws, msg);
    }
  }

  presenceOf(ws) {
    return [...this.sockets].filter((o) => o !== ws && o.joined).map((o) => ({ session: o.url, user: { id: o.user, name: o.user, color: '#ff0000' }, selection: o.selection ?? null }));
  }

  onOp(ws, msg) {
    const prior = this.history.find((h) => h.id === msg.id);
    if (prior) {
      this.send(ws, { type: 'ack', doc: 'd1', id: msg.id, version: prior.version });
      return;
    }
    let op = msg.op;
    for (const h of this.history.slice(msg.version)) [, op] = transform(h.op, op);
    this.text = apply(this.text, op);
    const rec = { version: this.history.length + 1, id: msg.id, user: ws.user, op };
    this.history.push(rec);
    this.send(ws, { type: 'ack', doc: 'd1', id: msg.id, version: rec.version });
    for (const o of this.sockets) if (o !== ws && o.joined) this.send(o, { type: 'op', doc: 'd1', ...rec });
  }

  /** drop closes every socket, as a network failure does. */
  drop() {
    for (const ws of [...this.sockets]) ws.close(1006);
  }
}

/** until waits (on real timers) until cond() holds. */
async function until(cond, what, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const opts = (server, more = {}) => ({ url: 'http://tandem.test', WebSocket: server.WebSocket, fetch: server.fetch, ...more });

test('connect, open, load, edit in UTF-16 and see the op in code points', async () => {
  const server = new FakeServer('😀 hi');
  const session = connect(opts(server));
  const statuses = [];
  session.on('status', (s) => statuses.push(s));
  const doc = session.open('d1');
  const changes = [];
  doc.on('change', (e) => changes.push(e));
  await until(() => doc.loaded, 'the first load');
  assert.equal(server.urls[0], 'ws://tandem.test/api/socket', 'cookie auth: no ticket');
  assert.deepEqual(statuses, ['online']);
  assert.equal(session.user.id, 'u0');
  assert.equal(doc.text, '😀 hi');
  assert.deepEqual(changes, [{ changes: [{ from: 0, to: 0, insert: '😀 hi' }], text: '😀 hi', remote: true, reset: true }]);
  await until(() => doc.status === 'saved', 'saved');

  // UTF-16 position 5 (after "😀 hi") is code point 4.
  assert.equal(doc.applyLocal([{ from: 5, insert: '!' }]), true);
  assert.equal(doc.text, '😀 hi!');
  assert.equal(doc.pending, true);
  await until(() => !doc.pending, 'the ack');
  assert.deepEqual(server.history[0].op, [4, '!']);
  assert.equal(server.text, '😀 hi!');
  assert.equal(doc.version, 1);
  session.close();
  assert.equal(session.status, 'closed');
  assert.equal(doc.status, 'closed');
});

test('two sessions: remote changes come as UTF-16 changes that rebuild the text', async () => {
  const server = new FakeServer('ab');
  const a = connect(opts(server));
  const b = connect(opts(server));
  const da = a.open('d1');
  const db = b.open('d1');
  let mirror = null; // what a plain textarea would show, kept by change events only
  db.on('change', (e) => {
    mirror = e.reset ? e.text : applySpecs(mirror, e.changes);
    assert.equal(mirror, e.text);
  });
  await until(() => da.loaded && db.loaded, 'both loaded');
  da.applyLocal([{ from: 0, insert: '🎉' }]);
  db.applyLocal([{ from: 2, insert: 'é' }]);
  da.applyLocal([{ from: 3, to: 4, insert: '' }]); // deletes "b"
  await until(() => !da.pending && !db.pending && da.version === 3 && db.version === 3, 'convergence');
  assert.equal(da.text, server.text);
  assert.equal(db.text, server.text);
  assert.equal(mirror, server.text);
  assert.equal(server.text, '🎉aé');
  a.close();
  b.close();
});

test('presence: my selection goes out in code points, theirs comes in UTF-16', async () => {
  const server = new FakeServer('😀😀ab');
  const a = connect(opts(server));
  const b = connect(opts(server));
  const da = a.open('d1');
  const db = b.open('d1');
  await until(() => da.status === 'saved' && db.status === 'saved', 'both joined');
  const seen = [];
  db.on('presence', (list) => seen.push(list));
  da.setSelection([{ anchor: 4, head: 5 }]); // after the two emoji, over "a"
  await until(() => seen.some((l) => l[0]?.selection), 'the selection on the other side');
  const sent = [...server.sockets].find((ws) => ws.selection);
  assert.deepEqual(sent.selection, [{ anchor: 2, head: 3 }]);
  assert.deepEqual(db.presence[0].selection, [{ anchor: 4, head: 5 }]);
  a.close();
  b.close();
});

test('offline: edits are kept, and sent once the socket is back', async () => {
  const server = new FakeServer('x');
  const session = connect(opts(server));
  const doc = session.open('d1');
  await until(() => doc.status === 'saved', 'joined');
  server.drop();
  await until(() => session.status === 'offline', 'offline');
  assert.equal(doc.status, 'offline');
  assert.equal(doc.editable, true, 'typing goes on while offline');
  doc.applyLocal([{ from: 1, insert: '1' }]);
  doc.applyLocal([{ from: 2, insert: '2' }]);
  assert.equal(doc.state, 'awaiting-with-buffer');
  await until(() => doc.status === 'saved', 'reconnected and saved', 8000);
  assert.equal(server.text, 'x12');
  assert.equal(server.history.length, 2, 'the outstanding op then the buffer, each once');
  session.close();
});

test('a token is traded for a ticket before each connect; REST calls carry it', async () => {
  const server = new FakeServer('hello');
  const session = connect(opts(server, { token: async () => 'jwt-1' }));
  const doc = session.open('d1');
  await until(() => doc.status === 'saved', 'joined');
  assert.equal(server.urls[0], 'ws://tandem.test/api/socket?ticket=t1');
  assert.deepEqual(server.requests[0], { method: 'POST', path: '/api/socket-tickets', auth: 'Bearer jwt-1' });
  server.drop();
  await until(() => session.status === 'online' && server.urls.length === 2, 'reconnected', 8000);
  assert.equal(server.urls[1], 'ws://tandem.test/api/socket?ticket=t2', 'a fresh ticket per connect');
  // A recovery fetches history with the token.
  const recs = await session.rest.ops('d1', 1, 0);
  assert.deepEqual(recs, []);
  assert.equal(server.requests.at(-1).auth, 'Bearer jwt-1');
  session.close();
});

test('a ticket function is used as is; a token refused means signed out', async () => {
  const server = new FakeServer('');
  server.tickets.add('mine');
  const s1 = connect(opts(server, { ticket: async () => 'mine' }));
  await until(() => s1.status === 'online', 'online');
  assert.equal(server.urls[0], 'ws://tandem.test/api/socket?ticket=mine');
  s1.close();

  const s2 = connect(opts(server, { token: 'revoked' }));
  await until(() => s2.status === 'signed-out', 'signed out');
  assert.equal(s2.connection.stopped, true, 'no more attempts');
});

test('a document is open once per session; a closed session opens none', () => {
  const server = new FakeServer('');
  const session = connect(opts(server));
  const doc = session.open('d1');
  assert.throws(() => session.open('d1'), /already open/);
  doc.close();
  session.open('d1').close();
  session.close();
  assert.throws(() => session.open('d1'), /closed/);
});

test('applyLocal refuses edits before the load, and checks its changes', async () => {
  const server = new FakeServer('abc');
  const session = connect(opts(server));
  const doc = session.open('d1');
  assert.equal(doc.applyLocal([{ from: 0, insert: 'x' }]), false, 'not loaded yet');
  await until(() => doc.loaded, 'loaded');
  assert.throws(() => doc.applyLocal([{ from: 0, to: 9 }]), RangeError);
  assert.throws(() => doc.applyLocal([{ from: 0, to: 2 }, { from: 1, to: 3 }]), /overlap/);
  assert.equal(doc.text, 'abc', 'nothing applied');
  session.close();
});

test('localSpecs widens changes that split a character and cleans inserts', () => {
  const doc = new StringDoc('a😀b');
  // A textarea diff of "a😀b" -> "a😁b" shares the high surrogate.
  assert.deepEqual(localSpecs(doc, [{ from: 2, to: 3, insert: '\ude01' }]), [{ from: 1, to: 3, insert: '😁' }]);
  // Two changes, one on each half: one change over the character.
  assert.deepEqual(localSpecs(doc, [{ from: 1, to: 2, insert: '\ud83e' }, { from: 2, to: 3, insert: '\udd14' }]), [{ from: 1, to: 3, insert: '🤔' }]);
  assert.deepEqual(localSpecs(doc, [{ from: 4, insert: 'x\r\ny\rz\u0000' }]), [{ from: 4, to: 4, insert: 'x\ny\nz\ufffd' }]);
  assert.deepEqual(localSpecs(doc, [{ from: 1, to: 1, insert: '' }]), [], 'empty changes go');
  assert.ok(TandemError, 'TandemError is exported');
});

test("the README's textarea example keeps a textarea in step", async () => {
  const readme = readFileSync(new URL('../client/README.md', import.meta.url), 'utf8');
  const code = readme.match(/## A plain `<textarea>`\n\n```js\n([\s\S]*?)```/)[1]
    .replace(/^import .*$/m, '')
    .replace("'https://tandem.example'", "'http://tandem.test'")
    .replace('token: () => myApp.getJwt() }', 'token: () => myApp.getJwt(), WebSocket: server.WebSocket, fetch: server.fetch }');
  const server = new FakeServer('😀 one');
  const listeners = {};
  const area = {
    value: '', selectionStart: 0, selectionEnd: 0, readOnly: true,
    setSelectionRange(s, e) { this.selectionStart = s; this.selectionEnd = e; },
    addEventListener: (ev, fn) => { listeners[ev] = fn; },
  };
  const document = { querySelector: () => area, addEventListener: (ev, fn) => { listeners[ev] = fn; } };
  const myApp = { getJwt: async () => 'jwt-1' };
  // The example, with these in scope; it returns its session and doc.
  const run = new Function('connect', 'document', 'myApp', 'documentId', 'server', `${code}\nreturn { session, doc };`);
  const { session, doc } = run(connect, document, myApp, 'd1', server);
  await until(() => doc.status === 'saved', 'loaded');
  assert.equal(area.value, '😀 one');
  assert.equal(area.readOnly, false);

  // I type " two" at the end, caret there.
  area.value = '😀 one two';
  area.setSelectionRange(10, 10);
  listeners.input();
  listeners.selectionchange();
  // Someone else inserts before my caret.
  const other = connect(opts(server));
  const od = other.open('d1');
  await until(() => od.loaded && !doc.pending, 'the other joined and my edit saved');
  od.applyLocal([{ from: 3, insert: 'big ' }]);
  await until(() => area.value === '😀 big one two', 'the remote edit in the textarea');
  assert.equal(area.selectionStart, 14, 'my caret moved with it');
  assert.equal(server.text, area.value);
  session.close();
  other.close();
});
