// Look-alike email addresses are shown with an ASCII form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asciiEmail } from '../src/email.js';

test('plain ASCII addresses are left alone', () => {
  assert.deepEqual(asciiEmail('bob@example.com'), { nonAscii: false, ascii: 'bob@example.com' });
  assert.deepEqual(asciiEmail('Bob.Baker+x@sub.example.co.uk'), { nonAscii: false, ascii: 'Bob.Baker+x@sub.example.co.uk' });
});

test('a look-alike domain shows in punycode', () => {
  // "exаmple" with a Cyrillic а (U+0430).
  const got = asciiEmail('bob@ex\u0430mple.com');
  assert.equal(got.nonAscii, true);
  assert.match(got.ascii, /^bob@xn--[a-z0-9-]+\.com$/);
  assert.notEqual(got.ascii, 'bob@example.com');
});

test('a look-alike local part names its characters', () => {
  // "bоb" with a Cyrillic о (U+043E).
  assert.deepEqual(asciiEmail('b\u043eb@example.com'), { nonAscii: true, ascii: 'b[U+043E]b@example.com' });
  assert.deepEqual(asciiEmail('😀@example.com'), { nonAscii: true, ascii: '[U+1F600]@example.com' });
});
