// The few REST calls the client makes itself: the history for a recovery
// (docs/protocol.md §10.4), large ops (§11), who am I, and socket tickets.
// Without a token they go with the page's cookie (same origin); with one,
// with `Authorization: Bearer <token>` and no cookie.

/** TandemError is a failed REST call: the HTTP status and the server's error code. */
export class TandemError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'TandemError';
    this.status = status;
    this.code = code;
  }
}

/** resolve returns the value of v, calling it first if it is a function. */
async function resolve(v) {
  return typeof v === 'function' ? v() : v;
}

export class Rest {
  /**
   * @param {object} opts
   * @param {string} opts.base  the server's address, e.g. https://tandem.example
   * @param {string | (() => string | Promise<string>)} [opts.token]  bearer token (JWT or API token)
   * @param {typeof fetch} [opts.fetch]
   */
  constructor(opts) {
    this.base = opts.base;
    this.token = opts.token;
    this.fetch = opts.fetch ?? ((...args) => globalThis.fetch(...args));
  }

  /** call makes one request and returns its JSON body; failures throw TandemError. */
  async call(method, path, body) {
    const init = { method, headers: {}, credentials: this.token ? 'omit' : 'same-origin' };
    if (this.token) init.headers.Authorization = `Bearer ${await resolve(this.token)}`;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await this.fetch(this.base + path, init);
    } catch {
      throw new TandemError(0, 'network', 'Cannot reach the server.');
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      // not JSON: data stays null
    }
    if (!res.ok) throw new TandemError(res.status, data?.code ?? 'internal', data?.message ?? `HTTP ${res.status}`);
    return data;
  }

  /** ops fetches the history of doc from..to (inclusive), following pages. */
  async ops(doc, from, to) {
    const out = [];
    while (from <= to) {
      const page = await this.call('GET', `/api/docs/${encodeURIComponent(doc)}/ops?from=${from}&to=${to}`);
      out.push(...page.ops);
      if (page.next === undefined) break;
      from = page.next;
    }
    return out;
  }

  /** submitOp sends {version, id, op} for doc without the socket. */
  submitOp(doc, body) {
    return this.call('POST', `/api/docs/${encodeURIComponent(doc)}/ops`, body);
  }

  /** me returns {user} for the caller, or throws (401 when signed out). */
  me() {
    return this.call('GET', '/api/me');
  }

  /** socketTicket trades the token for a single-use socket ticket. */
  async socketTicket() {
    const data = await this.call('POST', '/api/socket-tickets');
    return data.ticket;
  }
}
