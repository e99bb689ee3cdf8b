// Differences between two texts, as the page needs them.

import { isHigh, isLow } from '../client/ot.js';

/**
 * replacement is the one change turning a into b: the stretch between
 * their longest common prefix and suffix, never splitting a surrogate
 * pair; null when they are equal.
 */
export function replacement(a, b) {
  if (a === b) return null;
  let p = 0;
  const n = Math.min(a.length, b.length);
  while (p < n && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  if (p > 0 && isHigh(a.charCodeAt(p - 1))) p--; // keep a pair whole
  let s = 0;
  while (s < n - p && a.charCodeAt(a.length - 1 - s) === b.charCodeAt(b.length - 1 - s)) s++;
  if (s > 0 && isLow(a.charCodeAt(a.length - s))) s--;
  return { from: p, to: a.length - s, insert: b.slice(p, b.length - s) };
}
