// Conversion between CodeMirror's positions (UTF-16 units) and the
// protocol's (code points). Everything here takes a document with CodeMirror's
// Text interface, `length` and `sliceString(from, to)`, so it works on an
// editor's doc and, in tests, on a plain string wrapper.

import { Builder, cpLength, isHigh, isLow, MismatchError } from './ot.js';

/** A Text-like wrapper of a plain string, for code that has no editor. */
export class StringDoc {
  constructor(s) {
    this.s = s;
  }

  get length() {
    return this.s.length;
  }

  sliceString(from, to = this.s.length) {
    return this.s.slice(from, to);
  }

  toString() {
    return this.s;
  }
}

/**
 * count is the number of code points of doc between UTF-16 positions from and
 * to. On an editor's Text it walks the document's own chunks (lines) instead
 * of joining them into one string.
 */
export function count(doc, from, to) {
  if (typeof doc.iterRange !== 'function') return cpLength(doc.sliceString(from, to));
  let n = 0;
  for (const it = doc.iterRange(from, to); !it.next().done;) {
    if (!it.lineBreak) n += cpLength(it.value);
    else n++;
  }
  return n;
}

/** splitsPair reports whether UTF-16 position pos falls inside a surrogate pair of doc. */
export function splitsPair(doc, pos) {
  if (pos <= 0 || pos >= doc.length) return false;
  const two = doc.sliceString(pos - 1, pos + 1);
  return isHigh(two.charCodeAt(0)) && isLow(two.charCodeAt(1));
}

/**
 * wellFormed replaces lone surrogates and U+0000 in s with U+FFFD, as the
 * server takes only valid text and documents cannot hold U+0000.
 */
export function wellFormed(s) {
  let out = null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      i++;
      continue;
    }
    if (isHigh(c) || isLow(c) || c === 0) {
      out ??= s.split('');
      out[i] = '\ufffd';
    }
  }
  return out ? out.join('') : s;
}

/**
 * advance returns the UTF-16 position n code points after UTF-16 position u
 * in doc. It reads doc in slices, never character by character through the
 * editor, and throws MismatchError when doc ends first.
 */
export function advance(doc, u, n) {
  while (n > 0) {
    let end = Math.min(doc.length, u + n);
    if (end === u) throw new MismatchError('op is longer than the document');
    if (splitsPair(doc, end)) end++;
    n -= cpLength(doc.sliceString(u, end));
    u = end;
  }
  return u;
}

/** toCodePoints converts UTF-16 positions (any order) of doc to code points. */
export function toCodePoints(doc, positions) {
  const order = positions.map((p, i) => i).sort((a, b) => positions[a] - positions[b]);
  const out = new Array(positions.length);
  let u = 0;
  let cp = 0;
  for (const i of order) {
    const p = Math.max(0, Math.min(positions[i], doc.length));
    cp += count(doc, u, p);
    u = p;
    out[i] = cp;
  }
  return out;
}

/**
 * toUTF16 converts code point positions (any order) of doc to UTF-16
 * positions; positions past the end go to the end.
 */
export function toUTF16(doc, positions) {
  const order = positions.map((p, i) => i).sort((a, b) => positions[a] - positions[b]);
  const out = new Array(positions.length);
  let u = 0;
  let cp = 0;
  for (const i of order) {
    const want = Math.max(0, positions[i]);
    if (want > cp && u < doc.length) {
      try {
        u = advance(doc, u, want - cp);
        cp = want;
      } catch (e) {
        if (!(e instanceof MismatchError)) throw e;
        u = doc.length;
        cp = want;
      }
    }
    out[i] = u;
  }
  return out;
}

/**
 * changesToOp turns a CodeMirror ChangeSet made on doc into an op in code
 * points. Changes must not split surrogate pairs (see expandToCodePoints).
 */
export function changesToOp(changes, doc) {
  const b = new Builder();
  let pos = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    b.retain(count(doc, pos, fromA));
    b.delete(count(doc, fromA, toA));
    b.insert(wellFormed(inserted.toString()));
    pos = toA;
  });
  b.retain(count(doc, pos, doc.length));
  return b.op();
}

/**
 * opToChanges turns an op in code points into CodeMirror change specs on doc
 * (UTF-16 positions, all relative to doc). It throws MismatchError when the
 * op's base length is not doc's length in code points.
 */
export function opToChanges(op, doc) {
  const changes = [];
  let u = 0;
  let last = null; // the change at u, to merge an insert with a delete
  for (let k = 0; k < op.length; k++) {
    const c = op[k];
    if (typeof c === 'string') {
      if (last && last.to === u) last.insert += c;
      else changes.push((last = { from: u, to: u, insert: c }));
    } else if (c > 0) {
      if (k === op.length - 1) {
        // The trailing retain: only check that it ends the document.
        const rest = count(doc, u, doc.length);
        if (rest !== c) throw new MismatchError(`op retains ${c} code points at the end, document has ${rest}`);
        u = doc.length;
      } else {
        u = advance(doc, u, c);
      }
      last = null;
    } else {
      const end = advance(doc, u, -c);
      if (last && last.to === u) last.to = end;
      else changes.push((last = { from: u, to: end, insert: '' }));
      u = end;
    }
  }
  if (u !== doc.length) throw new MismatchError('op is shorter than the document');
  return changes;
}

/**
 * specsOf returns the changes of a CodeMirror ChangeSet (anything with
 * iterChanges) as {from, to, insert} specs, or an array of specs as given.
 */
function specsOf(changes) {
  if (typeof changes?.iterChanges !== 'function') return changes;
  const out = [];
  changes.iterChanges((from, to, _fromB, _toB, inserted) => {
    out.push({ from, to, insert: inserted.toString() });
  });
  return out;
}

/**
 * cleanText is s as a document may hold it: lone surrogates and U+0000 become
 * U+FFFD, and \r\n and lone \r become \n (the server refuses \r).
 */
export function cleanText(s) {
  const w = wellFormed(s);
  return w.includes('\r') ? w.replace(/\r\n?/g, '\n') : w;
}

/**
 * checkSpecs validates change specs against doc and returns them sorted by
 * position, with `to` and `insert` filled in. It throws a RangeError for a
 * position that is not an integer in the document, or for overlapping changes.
 */
function checkSpecs(doc, specs) {
  if (!Array.isArray(specs)) throw new TypeError('changes must be an array of {from, to, insert} or a ChangeSet');
  const out = specs.map((s) => ({ from: s.from, to: s.to ?? s.from, insert: s.insert ?? '' }));
  for (const s of out) {
    if (!Number.isInteger(s.from) || !Number.isInteger(s.to) || s.from < 0 || s.to < s.from || s.to > doc.length) {
      throw new RangeError(`change ${s.from}..${s.to} is outside the document (length ${doc.length})`);
    }
    if (typeof s.insert !== 'string') throw new TypeError('insert must be a string');
  }
  out.sort((a, b) => a.from - b.from || a.to - b.to); // stable: inserts at one place keep their order
  for (let i = 1; i < out.length; i++) {
    if (out[i].from < out[i - 1].to) throw new RangeError('changes overlap');
  }
  return out;
}

/**
 * localSpecs turns changes made on doc (UTF-16 positions, all relative to
 * doc: an array of {from, to?, insert?} or a CodeMirror ChangeSet) into the
 * sorted specs that the op will carry: a change that would split a surrogate
 * pair is widened to the whole character (keeping the text it meant to
 * produce), and inserted text is cleaned (see cleanText). Empty changes go.
 */
export function localSpecs(doc, changes) {
  const specs = checkSpecs(doc, specsOf(changes));
  const out = [];
  let group = null; // original specs whose widened ranges touch, and their range
  const flush = () => {
    if (!group) return;
    let insert = group.specs.length === 1 ? group.specs[0].insert : null;
    const wide = group.from !== group.specs[0].from || group.to !== group.specs.at(-1).to;
    if (insert === null || wide) {
      // Replay the original changes on the widened range's text.
      const base = group.from;
      let pos = base;
      insert = '';
      for (const s of group.specs) {
        insert += doc.sliceString(pos, s.from) + s.insert;
        pos = s.to;
      }
      insert += doc.sliceString(pos, group.to);
    }
    const spec = { from: group.from, to: group.to, insert: cleanText(insert) };
    if (spec.from !== spec.to || spec.insert !== '') out.push(spec);
    group = null;
  };
  for (const s of specs) {
    const from = splitsPair(doc, s.from) ? s.from - 1 : s.from;
    const to = splitsPair(doc, s.to) ? s.to + 1 : s.to;
    if (group && from < group.to) {
      group.specs.push(s);
      group.to = Math.max(group.to, to);
    } else {
      flush();
      group = { from, to, specs: [s] };
    }
  }
  flush();
  return out;
}

/**
 * specsToOp turns sorted, non-overlapping change specs on doc (UTF-16, on
 * whole characters, as localSpecs returns them) into an op in code points.
 */
export function specsToOp(specs, doc) {
  const b = new Builder();
  let pos = 0;
  for (const s of specs) {
    b.retain(count(doc, pos, s.from));
    b.delete(count(doc, s.from, s.to));
    b.insert(s.insert);
    pos = s.to;
  }
  b.retain(count(doc, pos, doc.length));
  return b.op();
}

/** applySpecs returns s with sorted, non-overlapping change specs (UTF-16, relative to s) applied. */
export function applySpecs(s, specs) {
  let out = '';
  let pos = 0;
  for (const c of specs) {
    out += s.slice(pos, c.from) + c.insert;
    pos = c.to;
  }
  return out + s.slice(pos);
}
