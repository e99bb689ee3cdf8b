// Replays the vectors that the Go test ot.TestJSVectors generates from the Go
// ot package: the JS transform, compose, apply, normalisation and caret
// mapping must agree with Go on every one of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { apply, compose, normalize, transform, transformIndex } from '../client/ot.js';

const vectors = JSON.parse(readFileSync(new URL('../testdata/ot-vectors.json', import.meta.url), 'utf8'));

test('vectors are present', () => {
  assert.ok(vectors.cases.length >= 100);
  assert.ok(vectors.normalize.length >= 100);
});

test('apply, transform and compose agree with Go', () => {
  for (const [i, c] of vectors.cases.entries()) {
    const msg = `case ${i}: ${JSON.stringify(c)}`;
    assert.equal(apply(c.doc, c.a), c.apply_a, msg);
    const [ap, bp] = transform(c.a, c.b);
    assert.deepEqual(ap, c.a_prime, msg);
    assert.deepEqual(bp, c.b_prime, msg);
    assert.deepEqual(compose(c.a, bp), c.compose_a_b_prime, msg);
    assert.equal(apply(apply(c.doc, c.a), bp), c.result, msg);
    assert.equal(apply(apply(c.doc, c.b), ap), c.result, msg);
  }
});

test('transformIndex agrees with Go', () => {
  for (const [i, c] of vectors.cases.entries()) {
    for (const [pos, own, out] of c.indexes) {
      assert.equal(transformIndex(pos, c.a, own === 1), out, `case ${i} pos ${pos} own ${own}`);
    }
  }
});

test('normalisation agrees with Go', () => {
  for (const c of vectors.normalize) {
    assert.deepEqual(normalize(c.raw), c.want, JSON.stringify(c.raw));
  }
});
