// Measures the per-keystroke cost of the code point conversion and the
// client's OT on a large document: node bench/convert.mjs (npm run bench).
// Prints the median of 7 runs of each case.
import { ChangeSet, Text } from '@codemirror/state';
import { transform } from '../client/ot.js';
import { changesToOp, opToChanges, toCodePoints } from '../client/text.js';

function median(fn, reps) {
  const times = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) fn(i);
    times.push(Number(process.hrtime.bigint() - t0) / reps / 1000);
  }
  times.sort((a, b) => a - b);
  return times[3];
}

for (const [name, unit] of [['ASCII', 'lorem ipsum '], ['with emoji', 'lorem 😀 ipsum ']]) {
  const line = unit.repeat(6);
  const text = Text.of(Array.from({ length: Math.ceil((1 << 20) / (line.length + 1)) }, () => line));
  const mid = Math.floor(text.length / 2);
  const change = ChangeSet.of([{ from: mid, insert: 'x' }], text.length);
  const op = changesToOp(change, text);
  const remote = [...op];
  console.log(`1 MiB document, ${name}:`);
  console.log(`  local keystroke in the middle -> op   ${median(() => changesToOp(change, text), 20).toFixed(0)} µs`);
  console.log(`  remote op in the middle -> changes    ${median(() => opToChanges(remote, text), 20).toFixed(0)} µs`);
  console.log(`  selection -> code points              ${median(() => toCodePoints(text, [mid]), 20).toFixed(0)} µs`);
  console.log(`  transform two keystrokes              ${median(() => transform(op, remote), 2000).toFixed(1)} µs`);
}
