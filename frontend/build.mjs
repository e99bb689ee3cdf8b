// Builds dist/: the bundle, the stylesheet and the page that loads them.
// The output is committed (Go embeds it), so it must be reproducible: the
// same sources and lockfile give the same bytes. .ci/run rebuilds and fails
// on any difference.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const out = 'dist/assets';
rmSync('dist', { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: ['src/app.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  legalComments: 'none',
  outfile: `${out}/app.js`,
  logLevel: 'warning',
});
await build({
  entryPoints: ['src/style.css'],
  bundle: true,
  minify: true,
  outfile: `${out}/app.css`,
  logLevel: 'warning',
});
copyFileSync('src/favicon.svg', `${out}/favicon.svg`);

// The page names each asset with a hash of its content, so browsers may
// cache assets for good and still see every new build.
const hash = (file) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
const page = readFileSync('src/index.html', 'utf8')
  .replace('{{js}}', hash(`${out}/app.js`))
  .replace('{{css}}', hash(`${out}/app.css`));
writeFileSync('dist/index.html', page);
