// @tandem/client/codemirror: a CodeMirror 6 extension that binds an
// EditorView to a Doc. Local transactions become the Doc's edits, remote
// changes become transactions (kept out of the undo history), the others'
// carets and selections are drawn with their names, and the editor is read
// only while the Doc does not take edits (loading, viewer, gone).

import { EditorState, StateEffect, StateField, Transaction } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin, WidgetType } from '@codemirror/view';
import { remote, wholeCodePoints } from './filter.js';

export { remote, wholeCodePoints };

/** Replaces the remote cursors and selections drawn. */
const setRemote = StateEffect.define();

/** Locks (true) or unlocks (false) the editor. */
const setLocked = StateEffect.define();

/** A named caret of another person. */
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

/** The others' carets and selections, mapped through every change. */
const remoteField = StateField.define({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) if (e.is(setRemote)) deco = e.value;
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

const theme = EditorView.baseTheme({
  '.cm-remote-caret': { position: 'relative', borderLeft: '2px solid', marginLeft: '-1px', marginRight: '-1px' },
  '.cm-remote-label': {
    position: 'absolute', left: '-2px', bottom: '100%',
    padding: '0 4px', borderRadius: '3px 3px 3px 0',
    color: '#fff', font: '600 11px/1.5 system-ui, sans-serif',
    whiteSpace: 'nowrap', pointerEvents: 'none', userSelect: 'none',
  },
});

/**
 * remoteDecorations draws each person's selection: a mark over each
 * non-empty range and a named caret at each head. Positions are UTF-16 and
 * clamped to length.
 */
export function remoteDecorations(presence, length) {
  const decos = [];
  const clamp = (p) => Math.max(0, Math.min(p, length));
  for (const p of presence) {
    const color = p.user?.color ?? '#888888';
    for (const r of p.selection ?? []) {
      const from = clamp(Math.min(r.anchor, r.head));
      const to = clamp(Math.max(r.anchor, r.head));
      if (from < to) {
        decos.push(Decoration.mark({
          class: 'cm-remote-selection',
          attributes: { style: `background-color: ${color}33` },
        }).range(from, to));
      }
      decos.push(Decoration.widget({ widget: new CaretWidget(p.user?.name ?? '', color), side: -1 }).range(clamp(r.head)));
    }
  }
  return Decoration.set(decos, true);
}

/** selectionRanges is the editor's selection as {anchor, head} ranges. */
function selectionRanges(state) {
  return state.selection.ranges.map((r) => ({ anchor: r.anchor, head: r.head }));
}

/**
 * tandemCollab binds the editor to doc (a Doc of @tandem/client). Create
 * the state with `doc: doc.text`; a view made before the text loaded is
 * filled in when it does.
 *
 * @param {import('./doc.js').Doc} doc
 * @param {object} [opts]
 * @param {(text: string) => import('@codemirror/state').EditorState} [opts.resetState]
 *   makes a fresh state (with this extension) for a text that replaces the
 *   whole document (first load, reload), so the undo history starts anew;
 *   without it the text is replaced in one transaction kept out of the history
 * @param {boolean} [opts.lock]  make the editor read only while doc.editable
 *   is false (default true)
 * @returns {import('@codemirror/state').Extension}
 */
export function tandemCollab(doc, opts = {}) {
  const lock = opts.lock ?? true;
  const lockedField = StateField.define({
    create: () => !doc.editable,
    update(locked, tr) {
      for (const e of tr.effects) if (e.is(setLocked)) locked = e.value;
      return locked;
    },
  });

  const plugin = ViewPlugin.fromClass(class {
    constructor(view) {
      this.view = view;
      this.applying = false; // inside my own applyLocal
      this.offs = [
        doc.on('change', (e) => this.onChange(e)),
        doc.on('presence', (list) => this.draw(list)),
        doc.on('status', () => this.syncLock()),
        doc.on('role', () => this.syncLock()),
      ];
      // Never dispatch inside the constructor (it runs inside an update).
      queueMicrotask(() => this.catchUp());
    }

    /** catchUp brings a new view to the document: its text, lock and carets. */
    catchUp() {
      if (!this.offs) return;
      if (doc.loaded && this.view.state.doc.toString() !== doc.text) this.replaceText(doc.text);
      this.syncLock();
      this.draw(doc.presence);
    }

    /** update feeds my local transactions to the doc, and my selection. */
    update(u) {
      let local = false;
      for (const tr of u.transactions) {
        if (!tr.docChanged || tr.annotation(remote)) continue;
        local = true;
        this.applying = true;
        let ok;
        try {
          ok = doc.applyLocal(tr.changes);
        } finally {
          this.applying = false;
        }
        if (!ok) break;
      }
      if (local && u.state.doc.length !== doc.text.length) {
        // Not taken (the document is not editable) or cleaned: show the doc's text.
        queueMicrotask(() => this.catchUp());
        return;
      }
      if (u.selectionSet || local) doc.setSelection(selectionRanges(u.state));
    }

    /** onChange applies a change the doc got from elsewhere. */
    onChange(e) {
      if (this.applying) return; // mine, already in the editor
      if (e.reset) {
        if (opts.resetState) this.view.setState(opts.resetState(e.text));
        else this.replaceText(e.text);
        doc.setSelection(selectionRanges(this.view.state));
        return;
      }
      this.view.dispatch({
        changes: e.changes,
        annotations: [remote.of(true), Transaction.addToHistory.of(false)],
      });
    }

    replaceText(text) {
      this.view.dispatch({
        changes: { from: 0, to: this.view.state.doc.length, insert: text },
        annotations: [remote.of(true), Transaction.addToHistory.of(false)],
      });
    }

    draw(list) {
      this.view.dispatch({ effects: setRemote.of(remoteDecorations(list, this.view.state.doc.length)) });
    }

    syncLock() {
      if (!lock) return;
      const locked = !doc.editable;
      if (this.view.state.field(lockedField) !== locked) this.view.dispatch({ effects: setLocked.of(locked) });
    }

    destroy() {
      for (const off of this.offs) off();
      this.offs = null;
    }
  });

  const ext = [wholeCodePoints, remoteField, theme, lockedField, plugin];
  if (lock) {
    ext.push(
      EditorState.readOnly.from(lockedField),
      EditorView.editable.from(lockedField, (locked) => !locked),
    );
  }
  return ext;
}
