// The list of my documents: create, open, rename, delete; and invitations
// to documents shared with me, to accept or decline.

import { api } from '../api.js';
import { h, relativeTime, replace } from '../dom.js';
import { confirmDialog } from './confirm.js';
import { invitationActions, invitedBy } from './invitations.js';
import { topBar } from './shell.js';

export function docsView(root, ctx) {
  document.title = 'Documents · Tandem';
  const list = h('div.doc-list', { 'aria-busy': 'true' }, h('p.muted', {}, 'Loading…'));
  const invites = h('section.invitations', { hidden: true, 'aria-label': 'Invitations' });
  const title = h('input', { type: 'text', name: 'title', placeholder: 'Untitled document', maxlength: '200', 'aria-label': 'New document title' });
  const create = h('form.new-doc', {
    async onsubmit(e) {
      e.preventDefault();
      try {
        const doc = await api.createDoc(title.value.trim() || 'Untitled document');
        ctx.navigate(`/d/${encodeURIComponent(doc.id)}`);
      } catch (err) {
        ctx.failed(err);
      }
    },
  }, title, h('button.primary', { type: 'submit' }, 'New document'));

  replace(root, topBar(ctx), h('main.page', {},
    h('div.page-head', {}, h('h1', {}, 'Documents'), create),
    invites,
    list));

  let alive = true;
  async function load() {
    try {
      const [{ docs }, { invitations }] = await Promise.all([api.listDocs(), api.invitations()]);
      if (!alive) return;
      invites.hidden = invitations.length === 0;
      replace(invites, h('h2', {}, 'Invitations'), h('ul.docs', {}, invitations.map(invitationRow)));
      list.removeAttribute('aria-busy');
      if (docs.length === 0) {
        replace(list, h('div.empty', {},
          h('h2', {}, 'No documents yet'),
          h('p.muted', {}, 'Create one above, then share it to write together.')));
        return;
      }
      docs.sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
      replace(list, h('ul.docs', {}, docs.map(row)));
    } catch (err) {
      ctx.failed(err);
    }
  }

  function invitationRow(inv) {
    return h('li.doc-row.invite-row', { 'data-invite': inv.doc_id },
      h('span.invite-what', {}, h('strong.doc-title', {}, inv.title || 'Untitled document'), invitedBy(inv)),
      invitationActions(ctx, inv, () => load()));
  }

  function row(doc) {
    const href = `/d/${encodeURIComponent(doc.id)}`;
    const owner = doc.role === 'owner';
    const li = h('li.doc-row', { 'data-doc': doc.id },
      h('a.doc-title', { href, 'data-nav': true }, doc.title || 'Untitled document'),
      h('span.badge', { class: `role-${doc.role}` }, doc.role),
      h('span.muted.doc-time', { title: new Date(doc.updated_at).toLocaleString() }, `Edited ${relativeTime(doc.updated_at)}`),
      h('span.doc-actions', {},
        owner && h('button.ghost', { type: 'button', onclick: () => rename(doc, li) }, 'Rename'),
        owner && h('button.ghost.danger', { type: 'button', onclick: () => remove(doc) }, 'Delete')));
    return li;
  }

  function rename(doc, li) {
    const input = h('input', { type: 'text', value: doc.title, maxlength: '200', 'aria-label': 'Title' });
    const form = h('form.rename', {
      async onsubmit(e) {
        e.preventDefault();
        try {
          await api.renameDoc(doc.id, input.value.trim() || 'Untitled document');
          load();
        } catch (err) {
          ctx.failed(err);
        }
      },
    }, input, h('button.primary', { type: 'submit' }, 'Save'), h('button.ghost', { type: 'button', onclick: () => load() }, 'Cancel'));
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') load();
    });
    li.replaceChildren(form);
    input.select();
  }

  async function remove(doc) {
    const sure = await confirmDialog(`Delete “${doc.title}”?`, 'It is deleted for everyone it is shared with. This cannot be undone.', 'Delete');
    if (!sure) return;
    try {
      await api.deleteDoc(doc.id);
      ctx.toast(`Deleted “${doc.title}”.`);
      load();
    } catch (err) {
      ctx.failed(err);
    }
  }

  load();
  return {
    destroy() {
      alive = false;
    },
  };
}
