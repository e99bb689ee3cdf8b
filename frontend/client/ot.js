// Operational transformation for plain text, the browser's twin of the Go
// package tandem/ot. Positions and lengths count Unicode code points, never
// UTF-16 units. An op is its JSON wire form: an array whose positive integers
// retain, strings insert and negative integers delete, walking the whole
// document, e.g. [3, "hi", -2, 5]. Ops built here are normalised exactly as
// the Go package normalises them (test/vectors.test.js holds the two
// together): no empty components, neighbours of one kind merged, an insert
// before a delete it touches, and the trailing retain kept.

/** Thrown when ops do not fit their document or each other. */
export class MismatchError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MismatchError';
  }
}

/** isHigh and isLow tell the two halves of a UTF-16 surrogate pair. */
export const isHigh = (c) => c >= 0xd800 && c <= 0xdbff;
export const isLow = (c) => c >= 0xdc00 && c <= 0xdfff;

const anySurrogate = /[\ud800-\udfff]/;

/** Number of code points in s (a lone surrogate counts as one). */
export function cpLength(s) {
  // The regular expression scans far faster than a loop of charCodeAt, and
  // most text has no astral characters at all.
  if (!anySurrogate.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i + 1 < s.length; i++) {
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) {
      n--;
      i++;
    }
  }
  return n;
}

/**
 * skip returns the UTF-16 index n code points after index i in s, or -1 when
 * s ends first.
 */
export function skip(s, i, n) {
  while (n > 0) {
    if (i >= s.length) return -1;
    if (isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) i += 2;
    else i++;
    n--;
  }
  return i;
}

const isInsert = (c) => typeof c === 'string';
const isRetain = (c) => typeof c === 'number' && c > 0;
const isDelete = (c) => typeof c === 'number' && c < 0;
const compLength = (c) => (isInsert(c) ? cpLength(c) : Math.abs(c));

/** Builder assembles a normalised op, in document order. */
export class Builder {
  constructor() {
    this.comps = [];
  }

  /** Keep the next n code points. */
  retain(n) {
    if (n < 0) throw new RangeError('retain of a negative count');
    if (n === 0) return this;
    const c = this.comps;
    if (c.length > 0 && isRetain(c[c.length - 1])) c[c.length - 1] += n;
    else c.push(n);
    return this;
  }

  /** Insert s here. */
  insert(s) {
    if (s === '') return this;
    const c = this.comps;
    const last = c.length - 1;
    if (last >= 0 && isInsert(c[last])) {
      c[last] += s;
    } else if (last >= 0 && isDelete(c[last])) {
      // Normal form puts the insert before a delete it touches.
      if (last >= 1 && isInsert(c[last - 1])) c[last - 1] += s;
      else c.splice(last, 0, s);
    } else {
      c.push(s);
    }
    return this;
  }

  /** Delete the next n code points. */
  delete(n) {
    if (n < 0) throw new RangeError('delete of a negative count');
    if (n === 0) return this;
    const c = this.comps;
    if (c.length > 0 && isDelete(c[c.length - 1])) c[c.length - 1] -= n;
    else c.push(-n);
    return this;
  }

  /** Append one wire-form component of any kind. */
  add(comp) {
    if (isInsert(comp)) return this.insert(comp);
    if (comp > 0) return this.retain(comp);
    return this.delete(-comp);
  }

  /** The op built so far; the builder is reset. */
  op() {
    const out = this.comps;
    this.comps = [];
    return out;
  }
}

/**
 * normalize checks that value is a well-formed op in the wire form and
 * returns it normalised. It throws a TypeError on anything else.
 */
export function normalize(value) {
  if (!Array.isArray(value)) throw new TypeError('an op is an array');
  const b = new Builder();
  for (const c of value) {
    if (typeof c === 'string') {
      if (c === '') throw new TypeError('an op cannot insert ""');
      if (c.includes('\u0000')) throw new TypeError('an op cannot insert U+0000');
    } else if (!Number.isSafeInteger(c) || c === 0) {
      throw new TypeError(`bad op component ${JSON.stringify(c)}`);
    }
    b.add(c);
  }
  return b.op();
}

/** Code points op expects in the document it applies to. */
export function baseLength(op) {
  let n = 0;
  for (const c of op) if (!isInsert(c)) n += Math.abs(c);
  return n;
}

/** Code points in the document op produces. */
export function targetLength(op) {
  let n = 0;
  for (const c of op) {
    if (isInsert(c)) n += cpLength(c);
    else if (c > 0) n += c;
  }
  return n;
}

/** isNoop reports whether op changes nothing. */
export function isNoop(op) {
  return op.length === 0 || (op.length === 1 && isRetain(op[0]));
}

/** apply returns text with op applied; it throws MismatchError if op does not fit. */
export function apply(text, op) {
  let out = '';
  let i = 0;
  for (const c of op) {
    if (isInsert(c)) {
      out += c;
      continue;
    }
    const j = skip(text, i, Math.abs(c));
    if (j < 0) throw new MismatchError(`op spans ${baseLength(op)} code points, document has ${cpLength(text)}`);
    if (c > 0) out += text.slice(i, j);
    i = j;
  }
  if (i !== text.length) {
    throw new MismatchError(`op spans ${baseLength(op)} code points, document has ${cpLength(text)}`);
  }
  return out;
}

/** Cursor hands out an op's components whole or in pieces. */
class Cursor {
  constructor(op) {
    this.op = op;
    this.i = 0;
    this.off = 0; // code points of op[i] taken
    this.uoff = 0; // UTF-16 units of op[i] taken (inserts only)
  }

  done() {
    return this.i >= this.op.length;
  }

  peek() {
    return this.done() ? undefined : this.op[this.i];
  }

  remaining() {
    return compLength(this.op[this.i]) - this.off;
  }

  /** take returns the next n code points of the current component. */
  take(n) {
    const cur = this.op[this.i];
    let out;
    if (isInsert(cur)) {
      const end = skip(cur, this.uoff, n);
      out = cur.slice(this.uoff, end);
      this.uoff = end;
    } else {
      out = cur > 0 ? n : -n;
    }
    this.off += n;
    if (this.off === compLength(cur)) {
      this.i++;
      this.off = 0;
      this.uoff = 0;
    }
    return out;
  }

  takeAll() {
    return this.take(this.remaining());
  }
}

/** compose returns the op that does a and then b. */
export function compose(a, b) {
  if (targetLength(a) !== baseLength(b)) {
    throw new MismatchError(`cannot compose: first op produces ${targetLength(a)} code points, second expects ${baseLength(b)}`);
  }
  const out = new Builder();
  const ca = new Cursor(a);
  const cb = new Cursor(b);
  for (;;) {
    const pb = cb.peek();
    if (pb !== undefined && isInsert(pb)) {
      out.insert(cb.takeAll());
      continue;
    }
    const pa = ca.peek();
    if (pa !== undefined && isDelete(pa)) {
      out.add(ca.takeAll());
      continue;
    }
    if (ca.done() || cb.done()) break;
    const n = Math.min(ca.remaining(), cb.remaining());
    const xa = ca.take(n);
    const xb = cb.take(n);
    if (isRetain(xa) && isRetain(xb)) out.retain(n);
    else if (isRetain(xa) && isDelete(xb)) out.delete(n);
    else if (isInsert(xa) && isRetain(xb)) out.insert(xa);
    // An insert that b deletes never happened.
  }
  return out.op();
}

/**
 * transform takes ops a and b made concurrently on one document, a sequenced
 * first, and returns [a', b'] with apply(apply(d, a), b') equal to
 * apply(apply(d, b), a'). When both insert at one place, a's text comes first.
 */
export function transform(a, b) {
  if (baseLength(a) !== baseLength(b)) {
    throw new MismatchError(`cannot transform: ops expect ${baseLength(a)} and ${baseLength(b)} code points`);
  }
  const ap = new Builder();
  const bp = new Builder();
  const ca = new Cursor(a);
  const cb = new Cursor(b);
  for (;;) {
    const pa = ca.peek();
    if (pa !== undefined && isInsert(pa)) {
      const s = ca.takeAll();
      ap.insert(s);
      bp.retain(cpLength(s));
      continue;
    }
    const pb = cb.peek();
    if (pb !== undefined && isInsert(pb)) {
      const s = cb.takeAll();
      ap.retain(cpLength(s));
      bp.insert(s);
      continue;
    }
    if (ca.done() || cb.done()) break;
    const n = Math.min(ca.remaining(), cb.remaining());
    const xa = ca.take(n);
    const xb = cb.take(n);
    if (isRetain(xa) && isRetain(xb)) {
      ap.retain(n);
      bp.retain(n);
    } else if (isDelete(xa) && isRetain(xb)) {
      ap.delete(n);
    } else if (isRetain(xa) && isDelete(xb)) {
      bp.delete(n);
    }
    // Both deleted the same text: neither deletes it again.
  }
  return [ap.op(), bp.op()];
}

/**
 * transformIndex moves a position through op as an editor moves a caret.
 * For an insert exactly at pos, own (op is the caret owner's own typing)
 * puts pos after the new text; otherwise it stays before. pos is first
 * clamped to the op's base length.
 */
export function transformIndex(pos, op, own) {
  pos = Math.max(0, Math.min(pos, baseLength(op)));
  let out = pos;
  let at = 0;
  for (const c of op) {
    if (at > pos) break;
    if (isInsert(c)) {
      if (at < pos || own) out += cpLength(c);
    } else if (c > 0) {
      at += c;
    } else {
      if (at < pos) out -= Math.min(-c, pos - at);
      at -= c;
    }
  }
  return out;
}

/** transformRanges moves each {anchor, head} of ranges through op. */
export function transformRanges(ranges, op, own) {
  if (ranges == null) return ranges;
  return ranges.map((r) => ({ anchor: transformIndex(r.anchor, op, own), head: transformIndex(r.head, op, own) }));
}
