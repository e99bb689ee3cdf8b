// The editor page for one document: the text, who is here, the connection,
// sharing.

import { api } from '../api.js';
import { h, initials, replace } from '../dom.js';
import { DocEditor } from '../editor.js';
import { historyPanel } from './history.js';
import { invitationActions, invitedBy } from './invitations.js';
import { shareDialog } from './share.js';
import { topBar } from './shell.js';

export function docView(root, ctx, id) {
  document.title = 'Loading… · Tandem';
  const session = ctx.session(); // the tab's one Session of the client package
  let meta = null; // GET /api/docs/{id}
  let alive = true;

  const titleEl = h('h1.doc-heading', {}, '…');
  const badge = h('span.badge', { hidden: true });
  const status = h('span.status', { role: 'status', 'aria-live': 'polite' });
  const people = h('ul.people', { 'aria-label': 'People here' });
  const shareBtn = h('button.secondary.share-button', { type: 'button', onclick: () => share() }, 'Share');
  const historyBtn = h('button.secondary.history-button', {
    type: 'button', title: 'History (Ctrl+Alt+H)', 'aria-keyshortcuts': 'Control+Alt+H', 'aria-pressed': 'false',
    onclick: () => toggleHistory(),
  }, 'History');
  const host = h('div.editor-host');
  const page = h('main.editor-page', {}, host);
  const banner = h('div.banner', { hidden: true });

  replace(root,
    topBar(ctx, h('a.back', { href: '/', 'data-nav': true, title: 'All documents' }, '←', h('span.sr-only', {}, 'Documents')), titleEl, badge),
    h('div.doc-bar', {}, status, people, historyBtn, shareBtn),
    banner,
    page);

  let doc = null; // the open document (a Doc of the client package), once meta is loaded
  let editor = null;
  const offs = [session.on('status', () => update())];

  /** openDoc joins the document and shows it in the editor. */
  function openDoc() {
    doc = session.open(id);
    editor = new DocEditor(host, doc);
    for (const ev of ['status', 'role', 'presence']) offs.push(doc.on(ev, () => update()));
    offs.push(doc.on('notice', ({ kind, message, text }) => {
      if (kind === 'gone') showGone(message);
      else if (kind === 'lost') showLost(message, text);
      else ctx.toast(message, kind === 'error' ? 'error' : 'info');
    }));
  }

  /** statusText is what the status line says, and its class. */
  function statusText() {
    switch (doc?.status ?? 'joining') {
      case 'gone':
        return ['Unavailable', 'gone'];
      case 'offline':
        if (doc.pending) return [doc.stored ? 'Offline · edits kept on this device' : 'Offline · unsaved edits kept here', 'offline'];
        return [session.status === 'connecting' ? 'Connecting…' : 'Offline · reconnecting…', 'offline'];
      case 'saving':
        return ['Saving…', 'saving'];
      case 'saved':
        return ['Saved', 'online'];
      default:
        return ['Connecting…', 'connecting'];
    }
  }

  function update() {
    if (!alive) return;
    const [text, cls] = statusText();
    status.textContent = text;
    status.className = `status status-${cls}`;
    status.dataset.state = doc?.state ?? 'synchronized';
    status.dataset.connection = session.status;
    status.dataset.version = doc?.version ?? '';

    const role = doc?.role;
    if (role) {
      badge.hidden = role === 'owner' || role === 'editor';
      badge.textContent = 'Read only';
      badge.className = 'badge role-viewer';
    }
    shareBtn.textContent = role === 'owner' ? 'Share' : 'Members';
    if (role === 'owner') {
      titleEl.tabIndex = 0;
      titleEl.title = 'Rename (click or Enter)';
    } else {
      titleEl.removeAttribute('tabindex');
      titleEl.removeAttribute('title');
    }

    // Who is here: me first, then everyone else once (several tabs of one
    // person show once).
    const here = new Map();
    if (session.user) here.set(session.user.id, { ...session.user, me: true });
    for (const p of doc?.presence ?? []) if (!here.has(p.user.id)) here.set(p.user.id, p.user);
    replace(people, [...here.values()].map((u) => h('li.avatar', {
      style: `background-color: ${u.color}`,
      title: u.me ? `${u.name} (you)` : u.name,
      'data-user': u.id,
    }, initials(u.name))));
  }

  function showGone(message) {
    banner.hidden = false;
    replace(banner, message, ' ', h('a', { href: '/', 'data-nav': true }, 'Back to documents'));
    update();
  }

  // Edits that could not be merged are never dropped silently: the person
  // gets their version of the text to copy.
  function showLost(message, text) {
    if (text === undefined) {
      ctx.toast(message, 'error');
      return;
    }
    const copy = h('button.secondary', {
      type: 'button',
      async onclick() {
        try {
          await navigator.clipboard.writeText(text);
          copy.textContent = 'Copied';
        } catch {
          ctx.toast('Copying failed: select the text below and copy it.', 'error');
        }
      },
    }, 'Copy my version');
    banner.hidden = false;
    replace(banner,
      h('p', {}, message, ' ', copy, ' ', h('button.ghost', { type: 'button', onclick: () => { banner.hidden = true; } }, 'Dismiss')),
      h('details', {}, h('summary', {}, 'Show my version'), h('pre.lost-text', {}, text)));
  }

  // The history panel takes the editor's place while it is open; the
  // document stays joined underneath, so the head moves on as others type.
  let history = null;
  function toggleHistory() {
    if (history) {
      closeHistory();
      return;
    }
    if (!doc || !meta) return;
    history = historyPanel(ctx, {
      id,
      title: () => meta.title,
      live: doc,
      canEdit: doc.role === 'owner' || doc.role === 'editor',
      restore: (text) => editor.replaceAll(text),
      close: () => closeHistory(),
    });
    host.hidden = true;
    page.append(history.el);
    historyBtn.setAttribute('aria-pressed', 'true');
  }
  function closeHistory() {
    if (!history) return;
    history.destroy();
    history.el.remove();
    history = null;
    host.hidden = false;
    historyBtn.setAttribute('aria-pressed', 'false');
    editor?.focus();
  }
  const onKey = (e) => {
    if (e.ctrlKey && e.altKey && !e.shiftKey && (e.key === 'h' || e.key === 'H' || e.code === 'KeyH')) {
      e.preventDefault();
      toggleHistory();
    }
  };
  document.addEventListener('keydown', onKey);
  offs.push(() => document.removeEventListener('keydown', onKey));

  async function share() {
    if (!meta) return;
    shareDialog(ctx, meta, doc?.role === 'owner');
  }

  function setTitle(title) {
    meta.title = title;
    document.title = `${title || 'Untitled document'} · Tandem`;
    replace(titleEl, title || 'Untitled document');
  }

  function startRename() {
    if (!meta || doc?.role !== 'owner' || titleEl.querySelector('input')) return;
    const input = h('input.title-input', { type: 'text', value: meta.title, maxlength: '200', 'aria-label': 'Title' });
    let finished = false;
    const done = async (save) => {
      if (finished) return;
      finished = true;
      const t = input.value.trim() || 'Untitled document';
      if (save && t !== meta.title) {
        try {
          await api.renameDoc(id, t);
        } catch (err) {
          ctx.failed(err);
          setTitle(meta.title);
          return;
        }
      }
      setTitle(save ? t : meta.title);
      titleEl.focus();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') done(true);
      if (e.key === 'Escape') done(false);
    });
    input.addEventListener('blur', () => done(true));
    replace(titleEl, input);
    input.select();
  }
  titleEl.addEventListener('click', startRename);
  titleEl.addEventListener('keydown', (e) => {
    if (e.target === titleEl && (e.key === 'Enter' || e.key === 'F2')) {
      e.preventDefault();
      startRename();
    }
  });


  // A handle for the console and for the browser tests.
  window.tandem = {
    text: () => editor?.text() ?? '',
    version: () => doc?.version ?? null,
    state: () => doc?.state ?? 'synchronized',
    pending: () => doc?.pending ?? false,
    stored: () => doc?.stored ?? false,
    role: () => doc?.role ?? null,
    history: () => history?.shown() ?? null,
  };

  (async () => {
    try {
      meta = await api.getDoc(id);
    } catch (err) {
      if (!alive) return;
      if (err.status !== 404 && err.status !== 401) {
        replace(root, topBar(ctx), h('main.page', {}, h('div.empty', {},
          h('h2', {}, 'Could not open the document'),
          h('p.muted', {}, err.message),
          h('button.primary', { type: 'button', onclick: () => ctx.navigate(location.pathname, { replace: true }) }, 'Try again'))));
        destroy();
        return;
      }
      // A link to a document I am invited to but have not joined: offer
      // the invitation here.
      const inv = err.status === 404 && (await api.invitations().catch(() => ({ invitations: [] })))
        .invitations.find((i) => i.doc_id === id);
      if (!alive) return;
      if (inv) {
        document.title = `Invitation: ${inv.title} · Tandem`;
        replace(root, topBar(ctx), h('main.page', {}, h('div.empty.invitation', { 'data-invite': inv.doc_id },
          h('h2', {}, `You are invited to “${inv.title}”`),
          h('p', {}, invitedBy(inv)),
          invitationActions(ctx, inv, (accepted) => ctx.navigate(accepted ? location.pathname : '/', { replace: true, force: true })))));
        destroy();
        return;
      }
      if (err.status === 404) {
        document.title = 'Not found · Tandem';
        replace(root, topBar(ctx), h('main.page', {}, h('div.empty', {},
          h('h2', {}, 'Document not found'),
          h('p.muted', {}, 'It may have been deleted, or it was never shared with you.'),
          h('a.button.primary', { href: '/', 'data-nav': true }, 'Back to documents'))));
        destroy();
        return;
      }
      ctx.failed(err);
      return;
    }
    if (!alive) return;
    setTitle(meta.title);
    openDoc();
    update();
    editor.focus();
  })();

  function destroy() {
    if (!alive) return;
    alive = false;
    history?.destroy();
    for (const off of offs) off();
    doc?.close();
    editor?.destroy();
    delete window.tandem;
  }
  return {
    destroy,
    /** unsaved reports edits that would be lost by leaving the page (kept ones are sent on the next open). */
    unsaved: () => (doc?.pending ?? false) && !doc.stored,
  };
}
