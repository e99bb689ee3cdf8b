// The share dialog: invite by email as editor or viewer, change or remove
// roles. Members who are not owners see the list only.

import { api } from '../api.js';
import { h, replace } from '../dom.js';

const roles = ['owner', 'editor', 'viewer'];

export function shareDialog(ctx, doc, manage) {
  const list = h('ul.members', { 'aria-busy': 'true' });
  const error = h('p.error', { role: 'alert', hidden: true });
  const email = h('input', { type: 'email', name: 'email', required: true, placeholder: 'name@example.com', 'aria-label': 'Email' });
  const role = h('select', { name: 'role', 'aria-label': 'Role' }, h('option', { value: 'editor' }, 'Editor'), h('option', { value: 'viewer' }, 'Viewer'));
  const show = (err) => {
    error.textContent = err.status === 404 && err.code === 'not_found' ? 'No account with that email. Ask them to sign up first.' : err.message;
    error.hidden = false;
  };
  const invite = manage && h('form.invite', {
    async onsubmit(e) {
      e.preventDefault();
      error.hidden = true;
      try {
        await api.share(doc.id, email.value.trim(), role.value);
        email.value = '';
        load();
      } catch (err) {
        show(err);
      }
    },
  }, email, role, h('button.primary', { type: 'submit' }, 'Invite'));

  const dialog = h('dialog.share', { 'aria-labelledby': 'share-title' },
    h('div.dialog-head', {},
      h('h2', { id: 'share-title' }, manage ? `Share “${doc.title}”` : `Members of “${doc.title}”`),
      h('button.ghost.close', { type: 'button', 'aria-label': 'Close', onclick: () => dialog.close() }, '×')),
    invite, error, list);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  (invite ? email : dialog).focus();

  async function load() {
    try {
      const { members } = await api.members(doc.id);
      list.removeAttribute('aria-busy');
      replace(list, members.map(row));
    } catch (err) {
      show(err);
    }
  }

  // Any member may leave a document; owners manage everyone else.
  async function removeMember(m, self) {
    error.hidden = true;
    try {
      await api.removeMember(doc.id, m.user_id);
    } catch (err) {
      show(err);
      return;
    }
    if (self) {
      dialog.close();
      ctx.toast(`You left “${doc.title}”.`);
      ctx.navigate('/', { force: true });
      return;
    }
    load();
  }

  function row(m) {
    const self = m.user_id === ctx.me.id;
    const who = h('span.member-who', {}, h('strong', {}, m.name, self ? ' (you)' : ''), h('span.muted', {}, m.email));
    const remove = (manage || self) && h('button.ghost.danger', {
      type: 'button',
      'aria-label': self ? 'Leave this document' : `Remove ${m.name}`,
      onclick: () => removeMember(m, self),
    }, self ? 'Leave' : 'Remove');
    if (!manage) return h('li.member', { 'data-email': m.email }, who, h('span.badge', { class: `role-${m.role}` }, m.role), remove);
    const select = h('select', {
      'aria-label': `Role of ${m.name}`,
      async onchange() {
        error.hidden = true;
        try {
          await api.share(doc.id, m.email, select.value);
        } catch (err) {
          show(err);
        }
        load();
      },
    }, roles.map((r) => h('option', { value: r, selected: r === m.role }, r[0].toUpperCase() + r.slice(1))));
    return h('li.member', { 'data-email': m.email }, who, select, remove);
  }

  load();
}
