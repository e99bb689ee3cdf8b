// Edits that survive a reload (the persist option, frontend/client/persist.js):
// pages ("tabs") that share one in-memory storage and one lock registry, as
// the tabs of a browser profile share IndexedDB and navigator.locks, against
// a simulated server that sequences, transforms and dedupes ops by author and
// id as Tandem's does (docs/protocol.md §4), with MaxBehind and the socket's
// catch-up window. A tab can be reloaded (closed, then opened again) or
// crash (it stops at once: no more messages, writes or locks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../client/index.js';
import { apply, transform } from '../client/ot.js';

/** Sim is one document on a simulated server. */
class Sim {
  constructor(text = '') {
    this.texts = [text]; // text at each version
    this.history = []; // {version, id, user, op}
    this.sockets = new Set();
    this.up = true; // the network: false refuses sockets and fetches
    this.maxBehind = 10000;
    this.windowOps = 1000;
    this.historyDown = false; // GET .../ops fails
    this.submits = []; // every op received: {via, user, id, version}
  }

  get text() {
    return this.texts.at(-1);
  }

  get head() {
    return this.history.length;
  }

  /** submit sequences an op (or acknowledges a re-send) as the server's room does. */
  submit(user, { version, id, op }) {
    const prior = this.history.find((h) => h.id === id && h.user === user);
    if (prior && prior.version > version) return { version: prior.version };
    if (prior) throw Object.assign(new Error('id reused'), { code: 'conflict' });
    if (version > this.head) throw Object.assign(new Error('ahead'), { code: 'bad_request' });
    if (this.head - version > this.maxBehind) throw Object.assign(new Error('too far behind: rejoin'), { code: 'bad_request' });
    for (const h of this.history.slice(version)) [, op] = transform(h.op, op);
    const rec = { version: this.head + 1, id, user, op };
    this.texts.push(apply(this.text, op));
    this.history.push(rec);
    for (const ws of this.sockets) if (ws.joined) this.send(ws, { type: 'op', doc: 'd1', ...rec });
    return rec;
  }

  /** tab makes the WebSocket class, fetch, storage view and lock view of one page of user. */
  tab(user, shared) {
    const sim = this;
    const tab = { dead: false, user };
    tab.WebSocket = class {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.joined = false;
        setImmediate(() => {
          if (this.readyState !== 0) return;
          if (!sim.up || tab.dead) {
            this.readyState = 3;
            this.onclose?.({ code: 1006, reason: '' });
            return;
          }
          this.readyState = 1;
          sim.sockets.add(this);
          sim.send(this, { type: 'hello', session: `s${Math.random()}`, user: { id: tab.user, name: tab.user, color: '#123456' } });
        });
      }

      send(data) {
        if (tab.dead) return;
        const msg = JSON.parse(data);
        setImmediate(() => sim.handle(this, tab, msg));
      }

      close() {
        if (this.readyState === 3) return;
        this.readyState = 3;
        sim.sockets.delete(this);
        setImmediate(() => this.onclose?.({ code: 1006, reason: '' }));
      }
    };
    tab.fetch = async (url, init) => {
      if (!sim.up || tab.dead) throw new TypeError('fetch failed');
      const u = new URL(url);
      const json = (status, body) => ({ ok: status < 300, status, json: async () => body });
      const q = u.searchParams;
      if (u.pathname === '/api/me') return json(200, { user: { id: tab.user } });
      if (init.method === 'GET' && u.pathname === '/api/docs/d1/ops') {
        if (sim.historyDown) return json(500, { code: 'internal', message: 'history unavailable' });
        return json(200, { ops: sim.history.slice(Number(q.get('from')) - 1, Number(q.get('to'))) });
      }
      if (init.method === 'GET' && u.pathname === '/api/docs/d1/content') {
        const v = Number(q.get('version'));
        return json(200, { version: v, content: sim.texts[v] });
      }
      if (init.method === 'POST' && u.pathname === '/api/docs/d1/ops') {
        const body = JSON.parse(init.body);
        sim.submits.push({ via: 'rest', user: tab.user, id: body.id, version: body.version });
        try {
          return json(200, { version: sim.submit(tab.user, body).version });
        } catch (err) {
          return json(400, { code: err.code, message: err.message });
        }
      }
      return json(404, { code: 'not_found', message: u.pathname });
    };
    tab.storage = {
      get: async (key) => structuredClone(shared.store.get(key)),
      put: async (key, rec) => {
        await shared.gate?.();
        if (!tab.dead) shared.store.set(key, structuredClone(rec));
      },
      delete: async (key) => {
        await shared.gate?.();
        if (!tab.dead) shared.store.delete(key);
      },
    };
    tab.locks = shared.locks.view(tab);
    return tab;
  }

  send(ws, msg) {
    if (ws.readyState === 1) ws.onmessage?.({ data: JSON.stringify(msg) });
  }

  handle(ws, tab, msg) {
    if (ws.readyState !== 1 || tab.dead) return;
    if (msg.type === 'join') {
      ws.joined = true;
      const v = msg.version;
      const base = { type: 'joined', doc: 'd1', version: this.head, role: 'editor', presence: [] };
      if (v == null || v > this.head || this.head - v > this.windowOps) this.send(ws, { ...base, content: this.text });
      else this.send(ws, { ...base, ops: this.history.slice(v) });
    } else if (msg.type === 'leave') {
      ws.joined = false;
    } else if (msg.type === 'op') {
      this.submits.push({ via: 'socket', user: tab.user, id: msg.id, version: msg.version });
      try {
        const rec = this.submit(tab.user, msg);
        this.send(ws, { type: 'ack', doc: 'd1', id: msg.id, version: rec.version });
      } catch (err) {
        this.send(ws, { type: 'error', doc: 'd1', id: msg.id, code: err.code, message: err.message });
      }
    }
  }

  /** down cuts the network: every socket closes, new ones and fetches fail. */
  down() {
    this.up = false;
    for (const ws of [...this.sockets]) ws.close();
  }
}

/**
 * Locks is a lock registry with the Web Locks API's exclusive mode:
 * ifAvailable, signal, and a callback whose promise holds the lock. A
 * crashed tab's locks are released, as a browser does.
 */
class Locks {
  constructor() {
    this.held = new Map(); // name -> tab
    this.queue = []; // {name, tab, fn, resolve, reject}
  }

  view(tab) {
    return { request: (name, opts, fn) => this.request(tab, name, opts, fn) };
  }

  request(tab, name, opts, fn) {
    return new Promise((resolve, reject) => {
      if (this.held.has(name)) {
        if (opts.ifAvailable) {
          Promise.resolve(fn(null)).then(resolve, reject);
          return;
        }
        const w = { name, tab, fn, resolve, reject };
        this.queue.push(w);
        opts.signal?.addEventListener('abort', () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          }
        });
        return;
      }
      this.grant({ name, tab, fn, resolve, reject });
    });
  }

  grant(w) {
    this.held.set(w.name, w.tab);
    Promise.resolve(w.fn({ name: w.name })).then(w.resolve, w.reject).finally(() => {
      if (this.held.get(w.name) === w.tab) this.free(w.name);
    });
  }

  free(name) {
    this.held.delete(name);
    const i = this.queue.findIndex((w) => w.name === name);
    if (i >= 0) this.grant(this.queue.splice(i, 1)[0]);
  }

  crash(tab) {
    for (const [name, t] of [...this.held]) if (t === tab) this.free(name);
  }
}

/** until waits (on real timers) until cond() holds. */
async function until(cond, what, ms = 8000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Browser is one profile: shared storage and locks, any number of pages. */
class Browser {
  constructor(sim) {
    this.sim = sim;
    this.shared = { store: new Map(), locks: new Locks() };
    this.pages = [];
  }

  /** open loads a page of user on the document; persist: true gives the page the user up front. */
  open(user = 'u1', { giveUser = true } = {}) {
    const tab = this.sim.tab(user, this.shared);
    const session = connect({
      url: 'http://tandem.test', WebSocket: tab.WebSocket, fetch: tab.fetch,
      persist: { user: giveUser ? user : undefined, storage: tab.storage, locks: tab.locks },
    });
    const doc = session.open('d1');
    const notices = [];
    doc.on('notice', (n) => notices.push(n));
    const page = { tab, session, doc, notices };
    this.pages.push(page);
    return page;
  }

  /** close closes a page as a reload or a closed tab does. */
  close(page) {
    page.session.close();
  }

  /** crash stops a page at once: it sends, writes and holds nothing more. */
  crash(page) {
    page.tab.dead = true;
    this.shared.locks.crash(page.tab);
    page.session.connection.stop();
  }

  closeAll() {
    for (const p of this.pages) if (!p.tab.dead) p.session.close();
  }
}

/** typeAt types s at UTF-16 position pos. */
const typeAt = (doc, pos, s) => assert.equal(doc.applyLocal([{ from: pos, insert: s }]), true);

/** count is how many times s occurs in text. */
const count = (text, s) => text.split(s).length - 1;

test('offline edits survive a reload: shown at once, sent once, the record removed', async () => {
  const sim = new Sim('start.');
  const b = new Browser(sim);
  const p1 = b.open();
  await until(() => p1.doc.status === 'saved', 'joined');
  sim.down();
  await until(() => p1.doc.status === 'offline', 'offline');
  typeAt(p1.doc, 6, ' one');
  typeAt(p1.doc, 10, ' two');
  typeAt(p1.doc, 0, '😀');
  assert.equal(p1.doc.state, 'awaiting-with-buffer');
  await until(() => p1.doc.stored, 'the edits kept');
  assert.equal(b.shared.store.size, 1);
  b.close(p1);

  // Reloaded, still offline: the text and the edits are back, editable.
  const p2 = b.open();
  await until(() => p2.doc.loaded, 'the kept text');
  assert.equal(p2.doc.text, '😀start. one two');
  assert.equal(p2.doc.state, 'awaiting-with-buffer');
  assert.equal(p2.doc.editable, true);
  typeAt(p2.doc, p2.doc.text.length, '!');
  await until(() => p2.doc.stored, 'the new edit kept');
  assert.equal(sim.head, 0, 'nothing sent while offline');

  sim.up = true;
  await until(() => p2.doc.status === 'saved', 'saved', 10000);
  assert.equal(sim.text, '😀start. one two!');
  assert.equal(p2.doc.text, sim.text);
  assert.equal(sim.head, 2, 'the outstanding op, then the buffer: each once');
  await until(() => b.shared.store.size === 0, 'the record removed once nothing is pending');
  b.closeAll();
});

test('an op sequenced before the reload (its ack lost) is not applied again, and others moved it', async () => {
  const sim = new Sim('abc');
  const b = new Browser(sim);
  const p1 = b.open();
  const other = b.open('u2');
  await until(() => p1.doc.status === 'saved' && other.doc.status === 'saved', 'joined');
  // The ack is lost: the op lands but the socket drops before the ack.
  const realHandle = sim.handle.bind(sim);
  sim.handle = (ws, tab, msg) => {
    if (msg.type === 'op' && tab === p1.tab) {
      sim.submit(tab.user, msg);
      sim.down();
      return;
    }
    realHandle(ws, tab, msg);
  };
  typeAt(p1.doc, 3, 'X');
  await until(() => sim.head === 1 && p1.doc.status === 'offline', 'sequenced, then offline');
  typeAt(p1.doc, 4, 'Y'); // buffer
  await until(() => p1.doc.stored, 'kept');
  sim.handle = realHandle;
  b.close(p1);
  // Meanwhile someone else edits in front of it.
  sim.up = true;
  sim.submit('u2', { version: 1, id: 'o-1', op: ['Z', 4] });
  const p2 = b.open();
  await until(() => p2.doc.status === 'saved' && !p2.doc.pending, 'saved', 10000);
  assert.equal(sim.text, 'ZabcXY');
  assert.equal(p2.doc.text, sim.text);
  assert.equal(count(sim.text, 'X'), 1);
  assert.equal(sim.history.filter((h) => h.user === 'u1').length, 2);
  await until(() => other.doc.text === sim.text, 'the other converges');
  b.closeAll();
});

test('an op is sent only after the record naming it is written', async () => {
  const sim = new Sim('');
  const b = new Browser(sim);
  let open = null;
  b.shared.gate = () => open; // writes wait while open is a pending promise
  const p = b.open();
  await until(() => p.doc.status === 'saved', 'joined');
  let release;
  open = new Promise((r) => { release = r; });
  typeAt(p.doc, 0, 'a');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sim.submits.length, 0, 'held back until kept');
  assert.equal(p.doc.stored, false);
  open = null;
  release();
  await until(() => sim.head === 1, 'sent once written');
  // While the ack is awaited, a buffer builds; its op gets a new id at the
  // ack and goes out only once that id is kept.
  await until(() => !p.doc.pending, 'acked');
  open = new Promise((r) => { release = r; });
  typeAt(p.doc, 1, 'b'); // outstanding, its write held
  typeAt(p.doc, 2, 'c'); // buffer
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(sim.head, 1);
  open = null;
  release();
  await until(() => !p.doc.pending, 'both saved');
  assert.equal(sim.text, 'abc');
  assert.deepEqual(sim.submits.map((s) => s.id).length, new Set(sim.submits.map((s) => s.id)).size, 'no id sent twice');
  b.closeAll();
});

test('a crash after typing: the next page sends the kept edits once', async () => {
  const sim = new Sim('x');
  const b = new Browser(sim);
  const p1 = b.open();
  await until(() => p1.doc.status === 'saved', 'joined');
  sim.down();
  await until(() => p1.doc.status === 'offline', 'offline');
  typeAt(p1.doc, 1, 'yz');
  await until(() => p1.doc.stored, 'kept');
  b.crash(p1);
  sim.up = true;
  const p2 = b.open();
  await until(() => p2.doc.status === 'saved', 'saved', 10000);
  assert.equal(sim.text, 'xyz');
  assert.equal(sim.head, 1);
  b.closeAll();
});

test('two tabs opened on kept edits: one restores and sends them, the other gets them as remote ops', async () => {
  const sim = new Sim('base');
  const b = new Browser(sim);
  const p1 = b.open();
  await until(() => p1.doc.status === 'saved', 'joined');
  sim.down();
  await until(() => p1.doc.status === 'offline', 'offline');
  typeAt(p1.doc, 4, ' kept');
  await until(() => p1.doc.stored, 'kept');
  b.close(p1);
  sim.up = true;
  const t1 = b.open();
  const t2 = b.open();
  await until(() => t1.doc.status === 'saved' && t2.doc.status === 'saved', 'both saved', 10000);
  await until(() => t1.doc.text === sim.text && t2.doc.text === sim.text, 'both converge');
  assert.equal(sim.text, 'base kept');
  assert.equal(sim.head, 1, 'sent by one tab only');
  assert.equal(sim.submits.length, 1, 'and only once');
  // The one holding the lock keeps edits; the other waits for it.
  await until(() => t1.doc.stored || t2.doc.stored, 'the holder up to date');
  const [holder, waiter] = t1.doc.stored ? [t1, t2] : [t2, t1];
  assert.equal(holder.doc.stored, true);
  assert.equal(waiter.doc.stored, false);
  // The holder closes while offline with edits pending; the waiter takes
  // the lock and sends them over REST, once.
  sim.down();
  await until(() => holder.doc.status === 'offline' && waiter.doc.status === 'offline', 'offline');
  typeAt(holder.doc, 0, '[h1]');
  typeAt(holder.doc, 0, '[h2]');
  typeAt(waiter.doc, waiter.doc.text.length, '[w]');
  await until(() => holder.doc.stored, 'the holder kept its edits');
  b.close(holder);
  await until(() => b.shared.locks.held.get(holder.doc.keeper.key) === waiter.tab, 'the waiter holds the lock');
  sim.up = true;
  await until(() => waiter.doc.status === 'saved' && !waiter.doc.pending && b.shared.store.size === 0, 'saved', 10000);
  await until(() => waiter.doc.text === sim.text, 'the waiter converges');
  assert.equal(sim.text, '[h2][h1]base kept[w]');
  for (const s of ['[h1]', '[h2]', '[w]']) assert.equal(count(sim.text, s), 1, s);
  assert.deepEqual(waiter.notices, []);
  assert.deepEqual(sim.submits.filter((x) => x.via === 'rest').map((x) => x.user), ['u1', 'u1'], "the closed tab's outstanding op and buffer, over REST");
  b.closeAll();
});

test('the user comes from the hello when the page does not give it', async () => {
  const sim = new Sim('q');
  const b = new Browser(sim);
  const p1 = b.open('u1', { giveUser: false });
  await until(() => p1.doc.status === 'saved', 'joined');
  sim.down();
  await until(() => p1.doc.status === 'offline', 'offline');
  typeAt(p1.doc, 1, 'r');
  await until(() => p1.doc.stored, 'kept');
  assert.deepEqual([...b.shared.store.keys()], ['tandem:http://tandem.test:u1:d1']);
  b.close(p1);
  sim.up = true;
  const p2 = b.open('u1', { giveUser: false });
  await until(() => p2.doc.status === 'saved' && !p2.doc.pending, 'saved');
  assert.equal(sim.text, 'qr');
  assert.equal(sim.head, 1);
  b.closeAll();
});

test('edits kept for one user are never sent as another', async () => {
  const sim = new Sim('q');
  const b = new Browser(sim);
  const p1 = b.open('u1');
  await until(() => p1.doc.status === 'saved', 'joined');
  sim.down();
  await until(() => p1.doc.status === 'offline', 'offline');
  typeAt(p1.doc, 1, 'r');
  await until(() => p1.doc.stored, 'kept');
  b.close(p1);
  sim.up = true;
  // The page thinks u1 is signed in, the server says u2.
  const tab = sim.tab('u2', b.shared);
  const session = connect({ url: 'http://tandem.test', WebSocket: tab.WebSocket, fetch: tab.fetch, persist: { user: 'u1', storage: tab.storage, locks: tab.locks } });
  const doc = session.open('d1');
  const notices = [];
  doc.on('notice', (n) => notices.push(n));
  await until(() => notices.length > 0, 'a notice');
  assert.equal(notices[0].kind, 'error');
  assert.equal(doc.editable, false);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(sim.head, 0, 'nothing sent');
  assert.equal(b.shared.store.size, 1, 'the record stays for its owner');
  session.close();
  b.closeAll();
});

test('kept edits far behind (beyond MaxBehind): found in the history if applied, else sent once, else handed back', async () => {
  for (const kase of ['applied', 'not applied', 'no history']) {
    const sim = new Sim('doc');
    sim.maxBehind = 20;
    sim.windowOps = 10;
    const b = new Browser(sim);
    const p1 = b.open();
    await until(() => p1.doc.status === 'saved', 'joined');
    // The edit is made; in the first case it reaches the server but the
    // ack does not come back.
    const realHandle = sim.handle.bind(sim);
    if (kase === 'applied') {
      sim.handle = (ws, tab, msg) => {
        if (msg.type === 'op') {
          sim.submit(tab.user, msg);
          sim.down();
          return;
        }
        realHandle(ws, tab, msg);
      };
    } else {
      sim.down();
    }
    typeAt(p1.doc, 3, '+mine');
    await until(() => p1.doc.status === 'offline' && p1.doc.stored, 'offline and kept');
    sim.handle = realHandle;
    b.close(p1);
    // Others make 30 edits meanwhile: the kept base is too old to dedupe by
    // the room's rules and too old for the socket's catch-up.
    sim.up = true;
    for (let i = 0; i < 30; i++) sim.submit('u2', { version: sim.head, id: `o-${i}`, op: ['.', sim.text.length] });
    if (kase === 'no history') sim.historyDown = true;
    const p2 = b.open();
    if (kase === 'no history') {
      await until(() => p2.notices.some((n) => n.kind === 'lost'), 'the edits handed back', 15000);
      const lost = p2.notices.find((n) => n.kind === 'lost');
      assert.ok(lost.text.includes('+mine'), 'the person gets their text');
      assert.equal(count(sim.text, '+mine'), 0);
      await until(() => p2.doc.status === 'saved' && p2.doc.text === sim.text, 'reloaded from the server');
    } else {
      await until(() => p2.doc.status === 'saved' && !p2.doc.pending, `saved (${kase})`, 15000);
      assert.equal(count(sim.text, '+mine'), 1, kase);
      assert.equal(p2.doc.text, sim.text);
      assert.deepEqual(p2.notices, [], kase);
    }
    await until(() => b.shared.store.size === 0, 'the record removed');
    b.closeAll();
  }
});

test('an unreadable record is handed back as text, not restored', async () => {
  const sim = new Sim('abc');
  const b = new Browser(sim);
  b.shared.store.set('tandem:http://tandem.test:u1:d1', { format: 1, version: 0, text: 'abcdef', outstanding: { id: 'x', base: 0, original: [3, 'd'], op: [3, 'd'] }, buffer: null });
  const p = b.open();
  await until(() => p.doc.status === 'saved', 'joined');
  assert.equal(p.doc.text, 'abc');
  assert.deepEqual(p.notices.map((n) => [n.kind, n.text]), [['lost', 'abcdef']]);
  assert.equal(b.shared.store.size, 0);
  assert.equal(sim.head, 0);
  b.closeAll();
});

test('without persist nothing is kept; persist: true outside a browser falls back to memory', async () => {
  const sim = new Sim('m');
  const tab = sim.tab('u1', { store: new Map(), locks: new Locks() });
  const warn = console.warn;
  const warned = [];
  console.warn = (...a) => warned.push(a.join(' '));
  try {
    const session = connect({ url: 'http://tandem.test', WebSocket: tab.WebSocket, fetch: tab.fetch, persist: true });
    const doc = session.open('d1');
    await until(() => doc.status === 'saved', 'joined');
    assert.equal(doc.keeper, null);
    assert.equal(doc.stored, false);
    assert.ok(warned.some((w) => w.includes('memory only')));
    session.close();
  } finally {
    console.warn = warn;
  }
});

test('storage that fails turns keeping off: edits still go out, from memory', async () => {
  const sim = new Sim('');
  const b = new Browser(sim);
  b.shared.gate = async () => {
    throw new Error('quota exceeded');
  };
  const warn = console.warn;
  const warned = [];
  console.warn = (...a) => warned.push(a.join(' '));
  try {
    const p = b.open();
    await until(() => p.doc.status === 'saved', 'joined');
    typeAt(p.doc, 0, 'still saved');
    await until(() => !p.doc.pending, 'saved');
    assert.equal(sim.text, 'still saved');
    assert.equal(p.doc.stored, false);
    assert.ok(warned.some((w) => w.includes('cannot be kept')));
    b.closeAll();
  } finally {
    console.warn = warn;
  }
});
