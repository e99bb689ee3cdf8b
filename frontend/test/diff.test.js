// The one-change difference the history panel restores and marks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHigh, isLow } from '../client/ot.js';
import { replacement } from '../src/diff.js';

const applyChange = (a, c) => (c ? a.slice(0, c.from) + c.insert + a.slice(c.to) : a);
const splitsPair = (s, i) => i > 0 && i < s.length && isHigh(s.charCodeAt(i - 1)) && isLow(s.charCodeAt(i));

test('replacement turns one text into the other with the middle only', () => {
  assert.equal(replacement('same', 'same'), null);
  assert.deepEqual(replacement('hello world', 'hello there world'), { from: 6, to: 6, insert: 'there ' });
  assert.deepEqual(replacement('abcdef', 'abf'), { from: 2, to: 5, insert: '' });
  assert.deepEqual(replacement('', 'new'), { from: 0, to: 0, insert: 'new' });
  // 😀 and 😁 share their high surrogate: the change takes the pair whole.
  assert.deepEqual(replacement('x😀y', 'x😁y'), { from: 1, to: 3, insert: '😁' });
});

test('replacement applies and never splits a pair, on random texts', () => {
  const alphabet = ['a', 'b', '😀', '😁', '🎉', '\n', 'é'];
  let seed = 7;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const text = () => Array.from({ length: rnd(8) }, () => alphabet[rnd(alphabet.length)]).join('');
  for (let i = 0; i < 5000; i++) {
    const a = text();
    const b = rnd(3) === 0 ? a : text();
    const c = replacement(a, b);
    assert.equal(applyChange(a, c), b, `${JSON.stringify(a)} → ${JSON.stringify(b)}`);
    if (c) {
      assert.ok(!splitsPair(a, c.from) && !splitsPair(a, c.to), `cut inside a pair: ${JSON.stringify([a, b, c])}`);
      assert.ok(!splitsPair(b, c.from) && !splitsPair(b, c.from + c.insert.length), `cut inside a pair of b: ${JSON.stringify([a, b, c])}`);
    }
  }
});
