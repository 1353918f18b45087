// Builds the pages into OUTDIR (the argument): the watch page (index.html, watch.css and
// watch.js, which esbuild bundles from src/watch.js with hls.js, so that the page needs no
// network), the operator console (console.html, console.css and console.js, bundled the
// same way from src/console.js, after theme.css, the dark theme it shares with a host's
// pages; both scripts import src/base.js, the /c/ID prefix of a host's
// channel) and a host's own pages (channels.html, the channel list, and picker.html, the
// console's channel picker, both with channels.css and channels.js). build.rs runs it and
// embeds OUTDIR in the binary.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}
const dist = resolve(out);
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
for (const page of ['watch', 'console', 'channels']) {
  await build({
    entryPoints: [join(here, `src/${page}.js`)],
    outfile: join(dist, `${page}.js`),
    bundle: true,
    format: 'esm',
    minify: true,
    target: ['chrome100', 'firefox100', 'safari15'],
    legalComments: 'eof',
    logLevel: 'warning',
  });
}
const copied = [
  ...['index.html', 'watch.css'],
  ...['theme.css', 'console.html', 'console.css'],
  ...['channels.html', 'picker.html', 'channels.css'],
];
for (const f of copied) {
  await copyFile(join(here, 'src', f), join(dist, f));
}
