// The editor of the document page: CodeMirror's minimal setup, bound to a
// Doc by the package's CodeMirror extension (frontend/client/codemirror.js).

import { minimalSetup } from 'codemirror';
import { indentWithTab } from '@codemirror/commands';
import { EditorState } from '@codemirror/state';
import { EditorView, keymap, placeholder } from '@codemirror/view';
import { tandemCollab } from '../client/codemirror.js';
import { replacement } from './diff.js';

/** DocEditor shows doc in an EditorView inside parent. */
export class DocEditor {
  constructor(parent, doc) {
    this.doc = doc;
    this.view = new EditorView({ parent, state: this.newState(doc.text) });
  }

  /**
   * newState is a fresh state for text: also used when the document is
   * (re)loaded, as the undo history of another text would be wrong.
   */
  newState(text) {
    return EditorState.create({
      doc: text,
      extensions: [
        minimalSetup, // undo history, the default keymap, drawn selections
        keymap.of([indentWithTab]), // Esc then Tab leaves the editor
        EditorView.lineWrapping,
        placeholder('Start typing…'),
        EditorView.contentAttributes.of({ 'aria-label': 'Document text', spellcheck: 'true' }),
        tandemCollab(this.doc, { resetState: (t) => this.newState(t) }),
      ],
    });
  }

  text() {
    return this.view.state.doc.toString();
  }

  /**
   * replaceAll makes the text equal to text as one edit of this person's,
   * which undo takes back like any other: the stretch between the longest
   * common prefix and suffix (whole code points) is replaced. It reports
   * false if the editor is read only.
   */
  replaceAll(text) {
    const state = this.view.state;
    if (state.readOnly) return false;
    const change = replacement(state.doc.toString(), text);
    if (change) this.view.dispatch({ changes: change, userEvent: 'input.restore', scrollIntoView: true });
    return true;
  }

  focus() {
    this.view.focus();
  }

  destroy() {
    this.view.destroy();
  }
}

