// The CodeMirror side of a document: an EditorView whose local changes feed
// a DocClient as ops in code points, which applies remote ops to the view,
// and which draws the other people's cursors and selections.

import { minimalSetup } from 'codemirror';
import { indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState, StateEffect, StateField, Transaction } from '@codemirror/state';
import {
  Decoration, EditorView, WidgetType, keymap, placeholder,
} from '@codemirror/view';
import { remote, wholeCodePoints } from '../client/filter.js';
import { changesToOp, opToChanges, toCodePoints, toUTF16 } from '../client/text.js';


/** Replaces the remote cursors and selections drawn. */
const setRemote = StateEffect.define();

class CaretWidget extends WidgetType {
  constructor(name, color) {
    super();
    this.name = name;
    this.color = color;
  }

  eq(other) {
    return other.name === this.name && other.color === this.color;
  }

  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'cm-remote-caret';
    caret.style.borderColor = this.color;
    const label = document.createElement('span');
    label.className = 'cm-remote-label';
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    caret.appendChild(label);
    return caret;
  }

  ignoreEvent() {
    return true;
  }
}

const remoteField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(setRemote)) deco = e.value;
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

/**
 * remoteDecorations draws each remote selection: a mark over each non-empty
 * range and a named caret at each head. ranges are UTF-16 positions.
 */
function remoteDecorations(people) {
  const decos = [];
  for (const p of people) {
    for (const r of p.ranges) {
      const from = Math.min(r.anchor, r.head);
      const to = Math.max(r.anchor, r.head);
      if (from < to) {
        decos.push(Decoration.mark({
          class: 'cm-remote-selection',
          attributes: { style: `background-color: ${p.color}33` },
        }).range(from, to));
      }
      decos.push(Decoration.widget({ widget: new CaretWidget(p.name, p.color), side: -1 }).range(r.head));
    }
  }
  return Decoration.set(decos, true);
}

/**
 * DocEditor binds an EditorView in parent to client (a DocClient whose apply
 * and reset hooks it provides through hooks()).
 */
export class DocEditor {
  constructor(parent, client) {
    this.client = client;
    this.editable = new Compartment();
    this.view = new EditorView({
      parent,
      state: this.newState(''),
    });
  }

  newState(text) {
    return EditorState.create({
      doc: text,
      extensions: [
        minimalSetup, // undo history, the default keymap, drawn selections
        keymap.of([indentWithTab]), // Esc then Tab leaves the editor
        EditorView.lineWrapping,
        placeholder('Start typing…'),
        EditorView.contentAttributes.of({ 'aria-label': 'Document text', spellcheck: 'true' }),
        this.editable.of(this.editableExt(false)),
        wholeCodePoints,
        remoteField,
        EditorView.updateListener.of((u) => this.onUpdate(u)),
      ],
    });
  }

  editableExt(on) {
    return [EditorState.readOnly.of(!on), EditorView.editable.of(on)];
  }

  /** hooks are the DocClient hooks this editor implements. */
  hooks() {
    return {
      apply: (op) => {
        this.view.dispatch({
          changes: opToChanges(op, this.view.state.doc),
          annotations: [remote.of(true), Transaction.addToHistory.of(false)],
        });
      },
      reset: (text) => {
        // A fresh state: the undo history of another text would be wrong.
        this.view.setState(this.newState(text));
        this.setEditable(this.client.editable);
        this.client.select(this.selectionInCodePoints(this.view.state));
      },
      text: () => this.text(),
    };
  }

  setEditable(on) {
    this.view.dispatch({ effects: this.editable.reconfigure(this.editableExt(on)) });
  }

  onUpdate(u) {
    for (const tr of u.transactions) {
      if (tr.docChanged && !tr.annotation(remote)) {
        this.client.local(changesToOp(tr.changes, tr.startState.doc));
      }
    }
    // Remote changes move my selection in the client too (DocClient.onOp).
    if (u.selectionSet || u.transactions.some((tr) => tr.docChanged && !tr.annotation(remote))) {
      this.client.select(this.selectionInCodePoints(u.state));
    }
  }

  selectionInCodePoints(state) {
    const ranges = state.selection.ranges;
    const flat = toCodePoints(state.doc, ranges.flatMap((r) => [r.anchor, r.head]));
    return ranges.map((_, i) => ({ anchor: flat[2 * i], head: flat[2 * i + 1] }));
  }

  /** drawRemote redraws the others' cursors from the client's presence. */
  drawRemote() {
    const doc = this.view.state.doc;
    const people = [];
    for (const p of this.client.remoteSelections()) {
      if (!p.selection) continue;
      const flat = toUTF16(doc, p.selection.flatMap((r) => [r.anchor, r.head]));
      people.push({
        name: p.user.name,
        color: p.user.color,
        ranges: p.selection.map((_, i) => ({ anchor: flat[2 * i], head: flat[2 * i + 1] })),
      });
    }
    this.view.dispatch({ effects: setRemote.of(remoteDecorations(people)) });
  }

  text() {
    return this.view.state.doc.toString();
  }

  focus() {
    this.view.focus();
  }

  destroy() {
    this.view.destroy();
  }
}
