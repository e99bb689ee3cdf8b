// The share dialog: invite by email as editor or viewer, see and revoke
// pending invitations, change or remove roles. Members who are not owners
// see the list only. An invitation says nothing about whether the address
// has an account; the person joins when they accept it.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { emailHint, emailLabel } from './email.js';

const roles = ['owner', 'editor', 'viewer'];

export function shareDialog(ctx, doc, manage) {
  const list = h('ul.members', { 'aria-busy': 'true' });
  const error = h('p.error', { role: 'alert', hidden: true });
  // type=text, not email: Chrome's email input refuses any non-ASCII
  // address with its own message, so internationalised addresses could not
  // be invited at all, and other browsers differ. The server validates; the
  // hint below flags non-ASCII addresses with their ASCII form.
  const email = h('input', {
    type: 'text', inputmode: 'email', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
    name: 'email', required: true, placeholder: 'name@example.com', 'aria-label': 'Email',
  });
  const hint = emailHint(email);
  const role = h('select', { name: 'role', 'aria-label': 'Role' }, h('option', { value: 'editor' }, 'Editor'), h('option', { value: 'viewer' }, 'Viewer'));
  const show = (err) => {
    error.textContent = err.message;
    error.hidden = false;
  };
  const invite = manage && h('form.invite', {
    async onsubmit(e) {
      e.preventDefault();
      error.hidden = true;
      const to = email.value.trim();
      try {
        const res = await api.share(doc.id, to, role.value);
        ctx.toast(res.invitation ? `Invited ${to}. They join when they accept.` : `${to} is now ${res.role === 'editor' ? 'an' : 'a'} ${res.role}.`);
        email.value = '';
        hint.hidden = true;
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
    invite, manage && hint, error, list);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  (invite ? email : dialog).focus();

  async function load() {
    try {
      const { members, invitations } = await api.members(doc.id);
      list.removeAttribute('aria-busy');
      replace(list, members.map(row), invitations.map(invitedRow));
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

  async function revoke(inv) {
    error.hidden = true;
    try {
      await api.revokeInvitation(doc.id, inv.email);
    } catch (err) {
      show(err);
      return;
    }
    load();
  }

  function row(m) {
    const self = m.user_id === ctx.me.id;
    const who = h('span.member-who', {}, h('strong', {}, m.name, self ? ' (you)' : ''), h('span.muted', {}, emailLabel(m.email)));
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

  // A pending invitation: the address, the role offered, and a way to
  // take it back.
  function invitedRow(inv) {
    return h('li.member.invited', { 'data-email': inv.email, 'data-invited': true },
      h('span.member-who', {}, h('strong', {}, emailLabel(inv.email)), h('span.muted', {}, `Invited as ${inv.role} · not accepted yet`)),
      h('span.badge.badge-invited', {}, 'invited'),
      h('button.ghost.danger', { type: 'button', 'aria-label': `Revoke the invitation to ${inv.email}`, onclick: () => revoke(inv) }, 'Revoke'));
  }

  load();
}
