// The REST API, as the page uses it. Every call is same-origin with the
// session cookie; a failure throws an ApiError with the server's code. The
// calls the editing protocol needs (history, large ops) are the client
// package's (frontend/client/rest.js).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // not JSON: fall through with data null
  }
  if (!res.ok) {
    throw new ApiError(res.status, data?.code ?? 'internal', data?.message ?? `${res.status} ${res.statusText}`);
  }
  return data;
}

const enc = encodeURIComponent;

export const api = {
  me: () => call('GET', '/api/me'),
  signup: (email, password, name) => call('POST', '/api/signup', { email, password, name }),
  login: (email, password) => call('POST', '/api/login', { email, password }),
  logout: () => call('POST', '/api/logout'),
  listDocs: () => call('GET', '/api/docs'),
  createDoc: (title) => call('POST', '/api/docs', { title }),
  getDoc: (id) => call('GET', `/api/docs/${enc(id)}`),
  renameDoc: (id, title) => call('PATCH', `/api/docs/${enc(id)}`, { title }),
  deleteDoc: (id) => call('DELETE', `/api/docs/${enc(id)}`),
  members: (id) => call('GET', `/api/docs/${enc(id)}/members`),
  share: (id, email, role) => call('PUT', `/api/docs/${enc(id)}/members`, { email, role }),
  removeMember: (id, user) => call('DELETE', `/api/docs/${enc(id)}/members/${enc(user)}`),
  revokeInvitation: (id, email) => call('DELETE', `/api/docs/${enc(id)}/invitations/${enc(email)}`),
  invitations: () => call('GET', '/api/invitations'),
  acceptInvitation: (id) => call('POST', `/api/invitations/${enc(id)}/accept`),
  declineInvitation: (id) => call('DELETE', `/api/invitations/${enc(id)}`),
  // History (the history panel).
  contentAt: (id, version) => call('GET', `/api/docs/${enc(id)}/content?version=${version}`),
  opsBetween: (id, from, to) => call('GET', `/api/docs/${enc(id)}/ops?from=${from}&to=${to}`),
  timeline: (id, buckets) => call('GET', `/api/docs/${enc(id)}/timeline?buckets=${buckets}`),
  blame: (id, version) => call('GET', `/api/docs/${enc(id)}/blame?version=${version}`),
  versions: (id) => call('GET', `/api/docs/${enc(id)}/versions`),
  saveVersion: (id, name, version) => call('POST', `/api/docs/${enc(id)}/versions`, { name, version }),
  deleteVersion: (id, vid) => call('DELETE', `/api/docs/${enc(id)}/versions/${enc(vid)}`),
};
