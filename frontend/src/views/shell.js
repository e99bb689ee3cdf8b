// The bar at the top of every signed-in page.

import { h, initials } from '../dom.js';

export function topBar(ctx, ...middle) {
  return h('header.topbar', {},
    h('a.brand', { href: '/', 'data-nav': true, title: 'All documents' }, h('span.logo', { 'aria-hidden': 'true' }, 'T'), h('span.brand-name', {}, 'Tandem')),
    h('div.topbar-middle', {}, ...middle),
    h('div.account', {},
      h('span.avatar.me', { title: `${ctx.me.name} <${ctx.me.email}>`, 'aria-hidden': 'true' }, initials(ctx.me.name)),
      h('span.account-name', {}, ctx.me.name),
      h('button.ghost', { type: 'button', onclick: () => ctx.signOut() }, 'Sign out')));
}
