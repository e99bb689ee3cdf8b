// An email address as the page shows it: flagged, with its ASCII form, when
// it has non-ASCII characters (see ../email.js).

import { asciiEmail } from '../email.js';
import { h } from '../dom.js';

export function emailLabel(email) {
  const { nonAscii, ascii } = asciiEmail(email);
  if (!nonAscii) return h('span.email', {}, email);
  return h('span.email', {}, email, ' ',
    h('span.email-warning', { title: 'This address has non-ASCII characters and may imitate another one.' },
      '⚠ non-ASCII: ', h('code', {}, ascii)));
}

/** emailHint explains, under an email input, an address with non-ASCII characters. */
export function emailHint(input) {
  const hint = h('p.hint.email-warning', { role: 'status', hidden: true });
  input.addEventListener('input', () => {
    const { nonAscii, ascii } = asciiEmail(input.value.trim());
    hint.hidden = !nonAscii;
    hint.textContent = nonAscii ? `⚠ This address has non-ASCII characters and may imitate another. It is ${ascii}` : '';
  });
  return hint;
}
