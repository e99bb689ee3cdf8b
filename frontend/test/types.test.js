// The package's hand-written declarations: they compile with a strict usage
// file, and they name exactly what the modules export; package.json's
// exports and files point at files that exist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import ts from 'typescript';

const here = (p) => new URL(p, import.meta.url).pathname;

test('the declarations type-check a strict usage of the API', () => {
  const program = ts.createProgram([here('types/usage.ts')], {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: false,
  });
  const diags = ts.getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n') + (d.file ? ` (${d.file.fileName})` : ''));
  assert.deepEqual(diags, []);
});

/** declared lists the names a .d.ts exports as values. */
function declared(file) {
  const src = readFileSync(here(`../client/${file}`), 'utf8');
  return [...src.matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]).sort();
}

test('the declarations name what the modules export', async () => {
  assert.deepEqual(Object.keys(await import('../client/index.js')).sort(), declared('index.d.ts'));
  assert.deepEqual(Object.keys(await import('../client/codemirror.js')).sort(), declared('codemirror.d.ts'));
});

test('package.json: exports and files exist', () => {
  const pkg = JSON.parse(readFileSync(here('../client/package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  for (const entry of ['.', './codemirror']) {
    for (const target of Object.values(pkg.exports[entry])) assert.ok(existsSync(here(`../client/${target}`)), target);
  }
  for (const f of pkg.files) assert.ok(existsSync(here(`../client/${f}`)), f);
  // Every module the entry points import is published.
  for (const f of pkg.files.filter((f) => f.endsWith('.js'))) {
    const src = readFileSync(here(`../client/${f}`), 'utf8');
    for (const [, dep] of src.matchAll(/from '\.\/([\w.]+)'/g)) assert.ok(pkg.files.includes(dep), `${f} imports ${dep}, not in files`);
  }
});
