// ShareDB served over WebSocket, for `tandem-bench --target sharedb`: the
// same load generator can then drive ShareDB and Tandem in one run.
//
//   node server.js [--port 0] [--host 127.0.0.1] [--db memory|postgres] [--database-url URL]
//   node server.js --init --database-url URL    (creates sharedb-postgres's tables, then exits)
//
// Documents are made on demand: the first subscribe or fetch of a document
// that does not exist creates it as a json0 document {text: ""}. GET /metrics
// on the same port reports the process's resident memory and CPU seconds, in
// the Prometheus text format and under the names a Tandem node uses, so that
// the load generator measures both servers alike.
'use strict';

const http = require('node:http');
const { parseArgs } = require('node:util');
const ShareDB = require('sharedb');
const WebSocket = require('ws');
const WebSocketJSONStream = require('@teamwork/websocket-json-stream');

const usage = `usage: node server.js [--port N] [--host H] [--db memory|postgres] [--database-url URL]
       node server.js --init --database-url URL`;

function options() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      db: { type: 'string', default: 'memory' },
      'database-url': { type: 'string', default: process.env.DATABASE_URL || '' },
      'pool-size': { type: 'string', default: '10' },
      init: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const port = Number(values.port);
  const pool = Number(values['pool-size']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0 to 65535');
  if (!Number.isInteger(pool) || pool < 1) fail('--pool-size must be at least 1');
  if (values.db !== 'memory' && values.db !== 'postgres') fail('--db must be memory or postgres');
  if ((values.db === 'postgres' || values.init) && !values['database-url']) {
    fail('--database-url (or DATABASE_URL) is needed for Postgres');
  }
  return { ...values, port, pool };
}

function fail(msg) {
  console.error(`sharedb: ${msg}\n${usage}`);
  process.exit(2);
}

// schema is the tables sharedb-postgres 5 reads and writes (its
// structure.sql, which also migrates older layouts, is not safe to run twice).
const schema = `
CREATE TABLE IF NOT EXISTS ops (
  collection varchar(255) NOT NULL,
  doc_id varchar(255) NOT NULL,
  version integer NOT NULL,
  operation jsonb NOT NULL,
  PRIMARY KEY (collection, doc_id, version)
);
CREATE TABLE IF NOT EXISTS snapshots (
  collection varchar(255) NOT NULL,
  doc_id varchar(255) NOT NULL,
  doc_type varchar(255),
  version integer NOT NULL,
  data jsonb,
  metadata jsonb,
  PRIMARY KEY (collection, doc_id)
);`;

// init creates the tables; running it again changes nothing.
async function init(url) {
  const pg = require('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(schema);
  } finally {
    await client.end();
  }
  console.log('sharedb: tables ready');
}

function database(opts) {
  if (opts.db === 'memory') return new ShareDB.MemoryDB();
  const PostgresDB = require('sharedb-postgres');
  return PostgresDB({ connectionString: opts['database-url'], max: opts.pool });
}

// docMaker returns ensure(collection, id), which resolves once the document
// exists. Concurrent calls for one document share one attempt; a document
// another call created in the meantime counts as made.
function docMaker(backend) {
  const conn = backend.connect();
  const made = new Map();
  return function ensure(collection, id) {
    const key = `${collection}\u0000${id}`;
    let p = made.get(key);
    if (!p) {
      p = new Promise((resolve, reject) => {
        const doc = conn.get(collection, id);
        doc.fetch((err) => {
          if (err) return reject(err);
          if (doc.type) return resolve();
          doc.create({ text: '' }, 'json0', (err) => {
            if (err && err.code !== 'ERR_DOC_ALREADY_CREATED') return reject(err);
            resolve();
          });
        });
      }).finally(() => conn.get(collection, id).destroy());
      // Forget a failed attempt, so that a later request tries again.
      p.catch(() => made.delete(key));
      made.set(key, p);
    }
    return p;
  };
}

// metrics is the body of GET /metrics: this process's resident memory and
// the CPU it has used (user and system), as a Tandem node names them.
function metrics() {
  const cpu = process.cpuUsage();
  return [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${process.memoryUsage().rss}`,
    '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    '',
  ].join('\n');
}

async function serve(opts) {
  const backend = new ShareDB({ db: database(opts) });
  const ensure = docMaker(backend);
  backend.use('receive', (ctx, next) => {
    const m = ctx.data;
    // The server's own connection (docMaker's) passes straight through.
    if (ctx.agent.stream.isServer) return next();
    if ((m.a === 's' || m.a === 'f') && typeof m.c === 'string' && typeof m.d === 'string') {
      ensure(m.c, m.d).then(() => next(), next);
      return;
    }
    next();
  });

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(metrics());
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: WebSocket on any path, or GET /metrics\n');
  });
  const wss = new WebSocket.Server({ server, maxPayload: 16 << 20 });
  wss.on('connection', (ws) => {
    ws.on('error', () => ws.terminate());
    const stream = new WebSocketJSONStream(ws);
    stream.on('error', () => {});
    backend.listen(stream);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { address, port } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  console.log(`sharedb: serving on ws://${host}:${port} (${opts.db})`);

  const stop = () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => server.close(() => backend.close(() => process.exit(0))));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const opts = options();
(opts.init ? init(opts['database-url']) : serve(opts)).catch((err) => {
  console.error(`sharedb: ${err.message || err}`);
  process.exit(1);
});
