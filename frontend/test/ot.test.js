import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apply, baseLength, Builder, compose, cpLength, isNoop, MismatchError, normalize, targetLength, transform, transformIndex,
} from '../client/ot.js';

test('lengths count code points', () => {
  assert.equal(cpLength(''), 0);
  assert.equal(cpLength('abc'), 3);
  assert.equal(cpLength('😀'), 1);
  assert.equal(cpLength('a😀b🎉'), 4);
  assert.equal(cpLength('\ud83d'), 1, 'a lone surrogate counts as one');
  const op = [3, 'hi😀', -2, 5];
  assert.equal(baseLength(op), 10);
  assert.equal(targetLength(op), 11);
});

test('apply in code points', () => {
  assert.equal(apply('abcdefghij', [3, 'hi', -2, 5]), 'abchifghij');
  assert.equal(apply('😀😀😀', [1, -1, 'x', 1]), '😀x😀');
  assert.throws(() => apply('abc', [2]), MismatchError);
  assert.throws(() => apply('abc', [4]), MismatchError);
  assert.throws(() => apply('😀', [2]), MismatchError, 'one emoji is one code point');
});

test('builder normalises', () => {
  assert.deepEqual(new Builder().retain(1).retain(2).insert('a').insert('b').delete(1).delete(2).op(), [3, 'ab', -3]);
  assert.deepEqual(new Builder().delete(2).insert('x').op(), ['x', -2], 'insert goes before the delete it touches');
  assert.deepEqual(new Builder().insert('a').delete(2).insert('b').op(), ['ab', -2]);
  assert.deepEqual(new Builder().retain(0).insert('').delete(0).op(), []);
  assert.deepEqual(normalize([2, 3, -1, 'x', 4]), [5, 'x', -1, 4]);
  assert.ok(isNoop([5]) && isNoop([]) && !isNoop(['a']));
});

test('normalize refuses what the server refuses', () => {
  for (const bad of [null, 'x', {}, [0], [''], [1.5], [NaN], [[1]], [true], ['a\u0000'], [1, '\u0000', 1]]) {
    assert.throws(() => normalize(bad), TypeError, JSON.stringify(bad));
  }
});

test('transform: ties put the first op first', () => {
  const [ap, bp] = transform([1, 'A', 1], [1, 'B', 1]);
  assert.equal(apply(apply('xy', [1, 'A', 1]), bp), 'xABy');
  assert.equal(apply(apply('xy', [1, 'B', 1]), ap), 'xABy');
});

test('transform: overlapping deletes', () => {
  const a = [1, -3, 1];
  const b = [2, -3];
  const [ap, bp] = transform(a, b);
  assert.equal(apply(apply('abcde', a), bp), 'a');
  assert.equal(apply(apply('abcde', b), ap), 'a');
  assert.throws(() => transform([1], [2]), MismatchError);
});

test('compose', () => {
  const a = [2, 'xy', 3];
  const b = [1, -3, 'Z', 3];
  assert.equal(apply('hello', compose(a, b)), apply(apply('hello', a), b));
  assert.throws(() => compose([1], [2]), MismatchError);
});

test('transformIndex', () => {
  assert.equal(transformIndex(2, [2, 'ab', 3], false), 2);
  assert.equal(transformIndex(2, [2, 'ab', 3], true), 4);
  assert.equal(transformIndex(3, [1, -3, 1], false), 1);
  assert.equal(transformIndex(9, [5], false), 5, 'clamped');
  assert.equal(transformIndex(1, ['😀', 2], false), 2);
});
