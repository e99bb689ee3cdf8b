// A yes/no question in a modal dialog, instead of the browser's confirm():
// it matches the page and does not block it.

import { h } from '../dom.js';

/** confirmDialog resolves true when the person confirms. */
export function confirmDialog(title, message, confirmLabel) {
  return new Promise((resolve) => {
    let answer = false;
    const ok = h('button.primary.danger-fill', { type: 'button', onclick: () => { answer = true; dialog.close(); } }, confirmLabel);
    const dialog = h('dialog.confirm', { 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, message),
      h('div.dialog-actions', {},
        h('button.secondary', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
        ok));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}
