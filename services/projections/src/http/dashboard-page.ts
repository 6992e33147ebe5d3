import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '@onestop/events';
import type { ServiceContext } from '@onestop/kit';

// The dashboard web page (DESIGN §7): static HTML, CSS and ES modules from
// services/projections/public, no build step. The page itself is public and
// holds no data; it asks for a bearer token and reads /api/* and /audit/* with
// it. It runs under the kit's CSP (script-src 'self': no inline script, no CDN).

/** services/projections/public, from src/http (tsx) as from dist/http (built). */
export const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Only plain file names: no directories, no dot files, nothing to traverse with. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z]{2,4}$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Reads the page's files once, at start: a handful of small files, served from memory. */
export async function loadDashboardAssets(dir = PUBLIC_DIR): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || !type || !SAFE_NAME.test(entry.name)) continue;
    const body = await readFile(join(dir, entry.name));
    assets.set(entry.name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  if (!assets.has('index.html')) throw new Error(`the dashboard page is missing: no index.html in ${dir}`);
  return assets;
}

/**
 * Sends one file. The names carry no version (no build step), so every
 * response must be revalidated (`no-cache`) and a strong ETag makes that a
 * cheap 304; a new release is picked up at once, never mixed with stale modules.
 */
function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  void reply.header('cache-control', 'no-cache').header('etag', asset.etag).header('x-content-type-options', 'nosniff');
  const match = req.headers['if-none-match'];
  if (typeof match === 'string' && match.split(',').some((t) => t.trim() === asset.etag || t.trim() === '*')) {
    return reply.code(304).send();
  }
  return reply.type(asset.type).send(asset.body);
}

export const dashboardPage = (dir = PUBLIC_DIR): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app) => {
    const assets = await loadDashboardAssets(dir);
    const index = assets.get('index.html')!;
    const hide = { schema: { hide: true } };

    app.get('/dashboard', hide, (req, reply) => send(req, reply, index));
    app.get('/dashboard/*', hide, (req, reply) => {
      const name = (req.params as { '*': string })['*'];
      // the page links its files relative to /dashboard: /dashboard/ is the page itself, at its one address
      if (name === '' || name === 'index.html') return reply.redirect('../dashboard', 308);
      const asset = SAFE_NAME.test(name) ? assets.get(name) : undefined;
      if (!asset) throw new NotFoundError('dashboard file', name.slice(0, 100));
      return send(req, reply, asset);
    });
  };
