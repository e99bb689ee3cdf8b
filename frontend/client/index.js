// @tandem/client: the browser (and Node) client of Tandem's collaborative
// editing protocol v1. See README.md for the API and examples.

import { Session } from './session.js';

export { Doc } from './doc.js';
export { indexedDBStorage } from './persist.js';
export { TandemError } from './rest.js';
export { Session };

/**
 * connect opens a session with a Tandem server.
 *
 * @param {object} [opts]
 * @param {string} [opts.url]  the server's address (default: the page's origin)
 * @param {string | (() => string | Promise<string>)} [opts.token]  a bearer
 *   token (JWT or API token) for REST calls, traded for a socket ticket
 *   before each connect
 * @param {() => Promise<string>} [opts.ticket]  returns a fresh socket
 *   ticket (the host app gets it from its own server); used before each connect
 * @param {typeof WebSocket} [opts.WebSocket]  WebSocket class (default: the global one)
 * @param {typeof fetch} [opts.fetch]  fetch function (default: the global one)
 * @param {boolean | {user?: string, storage?: object, locks?: object}} [opts.persist]
 *   keep pending edits in storage (IndexedDB) so that they survive a reload
 *   and are sent once when the document is opened again; see README.md
 * @returns {Session}
 */
export function connect(opts = {}) {
  return new Session(opts);
}
