// Sign in and sign up.

import { api } from '../api.js';
import { h, replace } from '../dom.js';

export function authView(root, ctx, { mode, next }) {
  const signup = mode === 'signup';
  document.title = signup ? 'Create account · Tandem' : 'Sign in · Tandem';
  const error = h('p.error', { role: 'alert', hidden: true });
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true, maxlength: '254' });
  const password = h('input', {
    type: 'password', name: 'password', required: true, minlength: '8', maxlength: '256',
    autocomplete: signup ? 'new-password' : 'current-password',
  });
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true, maxlength: '100' });
  const submit = h('button.primary', { type: 'submit' }, signup ? 'Create account' : 'Sign in');
  const form = h('form.stack', {
    async onsubmit(e) {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      try {
        const res = signup
          ? await api.signup(email.value.trim(), password.value, name.value.trim())
          : await api.login(email.value.trim(), password.value);
        ctx.signedIn(res.user, next);
      } catch (err) {
        error.textContent = err.code === 'unauthorized' ? 'Wrong email or password.' : err.message;
        error.hidden = false;
        submit.disabled = false;
      }
    },
  },
  signup && h('label', {}, 'Name', name),
  h('label', {}, 'Email', email),
  h('label', {}, 'Password', password, signup && h('small.hint', {}, 'At least 8 characters.')),
  error,
  submit);
  const otherPath = signup ? '/signin' : '/signup';
  const other = h('a', { href: otherPath + (next ? `?next=${encodeURIComponent(next)}` : ''), 'data-nav': true },
    signup ? 'Sign in instead' : 'Create an account');
  replace(root, h('main.center', {},
    h('div.card.auth', {},
      h('div.brand', {}, h('span.logo', { 'aria-hidden': 'true' }, 'T'), 'Tandem'),
      h('h1', {}, signup ? 'Create your account' : 'Sign in'),
      h('p.muted', {}, 'Write together, in real time.'),
      form,
      h('p.switch', {}, signup ? 'Already have an account? ' : 'New here? ', other))));
  (signup ? name : email).focus();
  return {};
}
