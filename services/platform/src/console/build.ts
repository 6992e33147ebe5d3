import { createHash } from 'node:crypto';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// The console's bundle, built in memory when the platform starts (and when a
// test builds the app): esbuild, no file written, no download, no manual
// step. Deterministic: the same sources give the same bytes, so the names
// (content hashes) are stable and the browser caches them for good.

/** services/platform/console, from src/console (tsx) as from dist/console (built). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

export interface ConsoleAsset {
  body: Buffer;
  type: string;
  etag: string;
  /** the same bytes compressed once at build time (text only: fonts are compressed already) */
  br?: Buffer;
  gzip?: Buffer;
}

export interface ConsoleBundle {
  /** file name (with its content hash) → asset */
  assets: Map<string, ConsoleAsset>;
  /** the page, linking the hashed script and stylesheet */
  index: ConsoleAsset;
  /** the names of the script and stylesheet the page loads */
  entry: { js: string; css: string };
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
};

const asset = (body: Buffer, type: string): ConsoleAsset => ({
  body,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  ...(type.startsWith('text/') || type.startsWith('image/svg')
    ? // brotli 9: within a few per cent of 11 at a tenth of its time (the bundle is built at every start)
      { br: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }), gzip: gzipSync(body, { level: 9 }) }
    : {}),
});

let cached: Promise<ConsoleBundle> | undefined;

/** The bundle, built once per process. */
export function consoleBundle(): Promise<ConsoleBundle> {
  cached ??= buildConsole().catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

/** Bundles console/src/main.tsx and console/src/console.css (Bootstrap Italia and its fonts from node_modules). */
export async function buildConsole(dir = CONSOLE_DIR): Promise<ConsoleBundle> {
  const out = await build({
    absWorkingDir: dir,
    entryPoints: { console: 'src/main.tsx', style: 'src/console.css' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.woff2': 'file', '.svg': 'file' },
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: 'out',
    write: false,
    legalComments: 'none',
    sourcemap: false,
    metafile: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const assets = new Map<string, ConsoleAsset>();
  let js = '';
  let css = '';
  for (const f of out.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1);
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (!type) continue;
    assets.set(name, asset(Buffer.from(f.contents), type));
    if (name.startsWith('console-') && ext === '.js') js = name;
    if (name.startsWith('style-') && ext === '.css') css = name;
  }
  if (!js || !css) throw new Error('the console bundle has no script or no stylesheet');
  const html = `<!doctype html>
<html lang="it">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OneStop – Console</title>
<link rel="stylesheet" href="/app/assets/${css}">
<script type="module" src="/app/assets/${js}"></script>
</head>
<body>
<a class="visually-hidden-focusable" href="#main">Vai al contenuto</a>
<div id="root"><noscript>La console richiede JavaScript. / The console needs JavaScript.</noscript></div>
</body>
</html>
`;
  return { assets, index: asset(Buffer.from(html), TYPES['.html']!), entry: { js, css } };
}
