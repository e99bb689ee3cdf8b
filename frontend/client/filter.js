// What the editor lets through: edits on whole characters only. Kept apart
// from codemirror.js so that it can be tested on a bare EditorState.

import { Annotation, EditorSelection, EditorState, Transaction } from '@codemirror/state';
import { splitsPair, wellFormed } from './text.js';

/** Marks transactions that come from the server, not the person typing. */
export const remote = Annotation.define();

/**
 * wholeCodePoints keeps edits on whole characters, so the editor never holds
 * half an emoji and never produces an op the server must refuse: an insert
 * inside a surrogate pair moves after it, a deletion that would split one
 * takes the whole character, and lone surrogates and U+0000 in inserted text
 * become U+FFFD, exactly as the op sends them.
 */
export const wholeCodePoints = EditorState.transactionFilter.of((tr) => {
  if (!tr.docChanged || tr.annotation(remote)) return tr;
  const doc = tr.startState.doc;
  let fix = false;
  tr.changes.iterChanges((from, to, _fb, _tb, inserted) => {
    if (fix || splitsPair(doc, from) || splitsPair(doc, to)) {
      fix = true;
      return;
    }
    const s = inserted.toString();
    if (wellFormed(s) !== s) fix = true;
  });
  if (!fix) return tr;
  const specs = [];
  tr.changes.iterChanges((from, to, _fb, _tb, inserted) => {
    if (from === to && splitsPair(doc, from)) {
      from++;
      to++;
    } else {
      if (splitsPair(doc, from)) from--;
      if (splitsPair(doc, to)) to++;
    }
    specs.push({ from, to, insert: wellFormed(inserted.toString()) });
  });
  let changes;
  try {
    changes = tr.startState.changes(specs);
  } catch {
    return []; // widened changes overlap: drop this edit rather than corrupt text
  }
  // Typing and pasting leave the caret after the edit; other transactions
  // keep the selection where the edit moved it.
  let end = 0;
  changes.iterChangedRanges((_fa, _ta, _fb, toB) => {
    end = toB;
  });
  return {
    changes,
    selection: tr.selection ? EditorSelection.cursor(end) : tr.startState.selection.map(changes, 1),
    effects: tr.effects,
    scrollIntoView: tr.scrollIntoView,
    userEvent: tr.annotation(Transaction.userEvent),
  };
});

