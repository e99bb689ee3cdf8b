// Type declarations for @tandem/client/codemirror (hand-written; keep in
// step with codemirror.js).

import type { AnnotationType, EditorState, Extension } from '@codemirror/state';
import type { DecorationSet } from '@codemirror/view';
import type { Doc, Presence } from './index.js';

export interface CollabOptions {
  /**
   * Makes a fresh state (including this extension) for a text that replaces
   * the whole document (first load, reload), so the undo history starts
   * anew. Without it, the text is replaced in one transaction kept out of
   * the undo history.
   */
  resetState?: (text: string) => EditorState;
  /** Make the editor read only while `doc.editable` is false (default true). */
  lock?: boolean;
}

/**
 * Binds an editor to a Doc: local transactions become its edits, remote
 * changes become transactions (not in the undo history), the others'
 * carets and selections are drawn with their names. Create the state with
 * `doc: doc.text`.
 */
export function tandemCollab(doc: Doc, opts?: CollabOptions): Extension;

/** Marks the transactions that carry remote changes. */
export const remote: AnnotationType<boolean>;

/** The transaction filter that keeps local edits on whole characters (included in tandemCollab). */
export const wholeCodePoints: Extension;

/** The decorations for a presence list (UTF-16 positions, clamped to length). */
export function remoteDecorations(presence: Presence[], length: number): DecorationSet;
