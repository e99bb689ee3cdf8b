// Tandem's web app: a small router over three views (sign in, documents,
// editor). The page is served for /, /signin and /d/{id}; everything else
// comes from the REST API and the socket.

import { api, ApiError } from './api.js';
import { connect } from '../client/index.js';
import { h, replace } from './dom.js';
import { authView } from './views/auth.js';
import { docsView } from './views/docs.js';
import { docView } from './views/doc.js';
import { confirmDialog } from './views/confirm.js';

const root = document.getElementById('app');
let me = null; // {id, email, name}, or null when signed out
let current = null; // the mounted view: {destroy()}
let session = null; // the tab's one Session (its socket), opened on first use

function closeSession() {
  const s = session;
  session = null;
  s?.close();
}

let here = location.pathname + location.search; // what the mounted view shows

/** leaveOK asks before leaving a view with unsaved edits. */
async function leaveOK() {
  if (!current?.unsaved?.()) return true;
  return confirmDialog('Leave with unsaved edits?',
    'Some of your edits have not reached the server yet. If you leave now, they are lost.', 'Leave');
}

/**
 * navigate shows path, adding it to the history unless replace is set. It
 * asks first when the current view has unsaved edits, unless force is set.
 */
export async function navigate(path, { replace: rep = false, force = false } = {}) {
  if (!force && !(await leaveOK())) return;
  if (rep) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** safeNext is next if it is a path on this site, else '/'. */
function safeNext(next) {
  if (!next) return '/';
  try {
    const u = new URL(next, location.origin);
    return u.origin === location.origin ? u.pathname + u.search : '/';
  } catch {
    return '/';
  }
}

/** toast shows a short message at the bottom of the page. */
export function toast(message, kind = 'info') {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div.toasts', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const t = h(`div.toast.toast-${kind}`, {}, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** signedOut is called when the server says the session is gone. */
function signedOut() {
  me = null;
  closeSession();
  const path = location.pathname;
  navigate(path.startsWith('/d/') ? `/signin?next=${encodeURIComponent(path)}` : '/signin', { replace: true, force: true });
}

const ctx = {
  get me() {
    return me;
  },
  navigate,
  toast,
  signedIn(user, next) {
    me = user;
    navigate(safeNext(next), { replace: true, force: true });
  },
  async signOut() {
    if (!(await leaveOK())) return;
    try {
      await api.logout();
    } catch {
      // signed out locally either way
    }
    me = null;
    closeSession();
    navigate('/signin', { replace: true, force: true });
  },
  /**
   * session returns the tab's Session, opening it on first use. It goes
   * with the session cookie; when the server says the cookie's session has
   * ended, the page goes to sign-in.
   */
  session() {
    if (!session) {
      // Pending edits are kept in IndexedDB, per user, so that a reload or
      // a crash does not lose them.
      const s = connect({ persist: { user: me.id } });
      s.on('status', (st) => {
        if (st === 'signed-out' && session === s) signedOut();
      });
      session = s;
    }
    return session;
  },
  /** failed handles an API error: a lost session goes to sign-in, the rest is shown. */
  failed(err) {
    if (err instanceof ApiError && err.status === 401) signedOut();
    else toast(err.message, 'error');
  },
  signedOut,
};

let renders = 0;

async function render() {
  const token = ++renders;
  current?.destroy?.();
  current = null;
  here = location.pathname + location.search;
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
  if (me === null) {
    try {
      const user = (await api.me()).user;
      if (token !== renders) return; // a newer render took over
      me = user;
    } catch (err) {
      if (token !== renders) return;
      if (!(err instanceof ApiError && err.status === 401)) {
        replace(root, h('main.center', {}, h('div.card', {}, h('h1', {}, 'Tandem'), h('p.error', { role: 'alert' }, err.message),
          h('button.primary', { onclick: () => render() }, 'Try again'))));
        return;
      }
    }
  }
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  if (!me) {
    if (path !== '/signin' && path !== '/signup') {
      const next = path === '/' ? '' : `?next=${encodeURIComponent(path)}`;
      history.replaceState(null, '', `/signin${next}`);
    }
    current = authView(root, ctx, { mode: location.pathname === '/signup' ? 'signup' : 'signin', next: params.get('next') });
    return;
  }
  const m = path.match(/^\/d\/([^/]+)$/);
  if (m) {
    current = docView(root, ctx, decodeURIComponent(m[1]));
  } else {
    if (path !== '/') history.replaceState(null, '', '/');
    current = docsView(root, ctx);
  }
}

// Links inside the app navigate without reloading the page.
document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a[data-nav]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', async () => {
  if (!current?.unsaved?.()) {
    render();
    return;
  }
  // The browser has already moved: put the page back, then ask.
  const target = location.pathname + location.search;
  history.pushState(null, '', here);
  if (await leaveOK()) navigate(target, { force: true });
});

// Closing or reloading the tab with unsaved edits asks first.
window.addEventListener('beforeunload', (e) => {
  if (current?.unsaved?.()) e.preventDefault();
});

render();
