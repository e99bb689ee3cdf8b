// The UTF-16 / code point conversion, on CodeMirror's own ChangeSet and Text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeSet, EditorState, Text } from '@codemirror/state';
import { apply, cpLength } from '../client/ot.js';
import { advance, changesToOp, opToChanges, splitsPair, StringDoc, toCodePoints, toUTF16, wellFormed } from '../client/text.js';

const doc = (s) => Text.of(s.split('\n'));

test('positions convert both ways around astral characters', () => {
  const d = doc('a😀b\n🎉c');
  // UTF-16: a=0, 😀=1..3, b=3, \n=4, 🎉=5..7, c=7, end=8. Code points: 0..6.
  assert.deepEqual(toCodePoints(d, [0, 1, 3, 4, 5, 7, 8]), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(toUTF16(d, [6, 0, 2, 5, 1]), [8, 0, 3, 7, 1]);
  assert.deepEqual(toUTF16(d, [99]), [8], 'past the end goes to the end');
  assert.equal(advance(d, 0, 2), 3);
  assert.ok(splitsPair(d, 2) && !splitsPair(d, 1) && !splitsPair(d, 3));
});

test('a CodeMirror change becomes an op in code points', () => {
  const start = doc('😀😀 hi');
  // Replace the second emoji (UTF-16 2..4) with "🎉!" and delete "h".
  const changes = ChangeSet.of([{ from: 2, to: 4, insert: '🎉!' }, { from: 5, to: 6 }], start.length);
  const op = changesToOp(changes, start);
  assert.deepEqual(op, [1, '🎉!', -1, 1, -1, 1]);
  assert.equal(apply(start.toString(), op), changes.apply(start).toString());
});

test('an op becomes CodeMirror changes in UTF-16', () => {
  const start = doc('x😀y\nz');
  const op = [1, 'A🎉', -1, 1, -1, 'B', 1];
  const cm = EditorState.create({ doc: start }).update({ changes: opToChanges(op, start) }).state.doc.toString();
  assert.equal(cm, apply(start.toString(), op));
  assert.deepEqual(opToChanges(op, start), [
    { from: 1, to: 3, insert: 'A🎉' },
    { from: 4, to: 5, insert: 'B' },
  ]);
  assert.throws(() => opToChanges([3], start), /code points/);
  assert.throws(() => opToChanges([9], start));
});

test('random changes round-trip through ops', () => {
  const alphabet = ['a', 'b', ' ', '\n', 'é', '中', '😀', '🎉', '𝄞'];
  let seed = 7;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const randText = (n) => Array.from({ length: rand(n + 1) }, () => alphabet[rand(alphabet.length)]).join('');
  for (let i = 0; i < 2000; i++) {
    const s = randText(12);
    const start = doc(s);
    // Pick change boundaries on code point boundaries, as the editor's filter ensures.
    const cps = cpLength(s);
    const points = [rand(cps + 1), rand(cps + 1)].sort((a, b) => a - b);
    const [from, to] = toUTF16(start, points);
    const changes = ChangeSet.of([{ from, to, insert: randText(3) }], start.length);
    const op = changesToOp(changes, start);
    const want = changes.apply(start).toString();
    assert.equal(apply(s, op), want, `case ${i}`);
    const back = EditorState.create({ doc: start }).update({ changes: opToChanges(op, start) }).state.doc.toString();
    assert.equal(back, want, `case ${i} back`);
  }
});

test('lone surrogates never reach an op', () => {
  assert.equal(wellFormed('a\ud83db'), 'a\ufffdb');
  assert.equal(wellFormed('\ude00'), '\ufffd');
  assert.equal(wellFormed('😀'), '😀');
  const start = new StringDoc('ab');
  const changes = ChangeSet.of([{ from: 1, insert: '\ud83d' }], 2);
  assert.deepEqual(changesToOp(changes, start), [1, '\ufffd', 1]);
});

test('U+0000 never reaches an op: it becomes U+FFFD', () => {
  assert.equal(wellFormed('a\u0000b\u0000'), 'a\ufffdb\ufffd');
  const changes = ChangeSet.of([{ from: 1, insert: 'x\u0000' }], 2);
  assert.deepEqual(changesToOp(changes, new StringDoc('ab')), [1, 'x\ufffd', 1]);
});

test('the editor filter keeps edits on whole characters', async () => {
  const { wholeCodePoints, remote } = await import('../client/filter.js');
  const state = EditorState.create({ doc: 'a😀b', extensions: [wholeCodePoints] });
  const type = (spec) => state.update({ ...spec, userEvent: 'input.type' }).state;
  // An insert inside the pair goes after it; the caret follows the insert.
  let s = type({ changes: { from: 2, insert: 'X' }, selection: { anchor: 3 } });
  assert.equal(s.doc.toString(), 'a😀Xb');
  assert.equal(s.selection.main.head, 4);
  // A deletion of half the pair takes the whole character.
  s = type({ changes: { from: 2, to: 3 } });
  assert.equal(s.doc.toString(), 'ab');
  s = type({ changes: { from: 1, to: 2, insert: 'Y' } });
  assert.equal(s.doc.toString(), 'aYb');
  // Lone surrogates typed or pasted become U+FFFD, in the editor as in the op.
  s = type({ changes: { from: 0, insert: '\ud83d' } });
  assert.equal(s.doc.toString(), '\ufffda😀b');
  s = type({ changes: [{ from: 0, insert: '\ud83d' }, { from: 1, insert: '\ude00' }] });
  assert.equal(s.doc.toString(), '\ufffda\ufffd😀b');
  // So does U+0000, which documents cannot hold.
  assert.equal(type({ changes: { from: 1, insert: 'x\u0000' } }).doc.toString(), 'ax\ufffd😀b');
  // Whole-character edits and the server's own are left alone.
  assert.equal(type({ changes: { from: 1, to: 3, insert: '🎉' } }).doc.toString(), 'a🎉b');
  const r = state.update({ changes: { from: 2, insert: 'Z' }, annotations: remote.of(true) }).state;
  assert.equal(r.doc.toString(), 'a\ud83dZ\ude00b');
});
