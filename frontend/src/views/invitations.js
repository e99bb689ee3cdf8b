// Invitations to me: a document someone shared with my email address, which
// I accept (and become a member) or decline. Shown in my document list and
// in place of a document I open from a link before accepting.

import { api } from '../api.js';
import { h } from '../dom.js';
import { emailLabel } from './email.js';

/**
 * invitationActions returns the Accept and Decline buttons for inv; after
 * the server has answered, done(accepted) runs.
 */
export function invitationActions(ctx, inv, done) {
  const act = (accept) => async () => {
    try {
      if (accept) await api.acceptInvitation(inv.doc_id);
      else await api.declineInvitation(inv.doc_id);
    } catch (err) {
      ctx.failed(err);
      return;
    }
    ctx.toast(accept ? `You joined “${inv.title}”.` : `Declined “${inv.title}”.`);
    done(accept);
  };
  return h('span.doc-actions', {},
    h('button.primary', { type: 'button', onclick: act(true) }, 'Accept'),
    h('button.ghost', { type: 'button', onclick: act(false) }, 'Decline'));
}

/** invitedBy says who invited, with a look-alike address flagged. */
export function invitedBy(inv) {
  return h('span.muted.invited-by', {}, `${inv.inviter_name} (`, emailLabel(inv.inviter_email), `) invites you as ${inv.role === 'viewer' ? 'a viewer' : `an ${inv.role}`}`);
}
