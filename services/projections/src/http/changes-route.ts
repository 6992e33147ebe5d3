import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { watchToken, type ServiceContext } from '@onestop/kit';
import type { ChangeFeed } from '../changes/change-feed.js';

// GET /api/changes: server-sent events, one `change` event with the global
// position each time the read models move (coalesced to at most one every
// `COALESCE_MS`), a comment every `HEARTBEAT_MS` so proxies keep the line open.
// The stream ends after `timeout` seconds and the client reconnects, and
// `timeout=0` answers the current position at once (a probe, and how the
// tests call it). It also ends as soon as its token is revoked or expires
// (watchToken): the reconnection then gets the 401 that says why.

const HEARTBEAT_MS = 25_000;
const COALESCE_MS = 100;

export const changesRoute = (feed: ChangeFeed): FastifyPluginAsync<{ ctx: ServiceContext }> =>
  async (app, { ctx }) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    // open streams end with the app (a graceful close does not wait for them)
    const open = new Set<() => void>();
    app.addHook('onClose', async () => {
      for (const close of open) close();
    });
    r.get(
      '/api/changes',
      {
        config: { roles: ['operator', 'team', 'partner', 'auditor', 'admin'] },
        exposeHeadRoute: false,
        schema: {
          tags: ['dashboards'],
          summary: 'Server-sent events: "the read models changed at position N" (no data; read again with ?after=N)',
          description:
            'text/event-stream. Each event is `event: change` with `data: {"position":N}`: the highest global position the read models have applied. ' +
            'It names no stream, type or person: a client reads what its role may see again, passing `after=N`. The stream ends after `timeout` seconds, and as soon as its token is revoked or expires; reconnect then.',
          querystring: z.object({ timeout: z.coerce.number().int().min(0).max(300).default(300) }),
        },
      },
      async (req, reply) => {
        const start = feed.position || (await ctx.store.headPosition());
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        const send = (position: number) => res.write(`event: change\nid: ${position}\ndata: {"position":${position}}\n\n`);
        res.write('retry: 2000\n\n');
        send(start);
        if (req.query.timeout === 0) return void res.end();
        let pending: ReturnType<typeof setTimeout> | undefined;
        const unsubscribe = feed.subscribe(() => {
          pending ??= setTimeout(() => {
            pending = undefined;
            send(feed.position);
          }, COALESCE_MS);
        });
        const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
        const end = setTimeout(() => res.end(), req.query.timeout * 1000);
        const close = () => res.end();
        open.add(close);
        // the hook authenticated this header before the handler ran
        const unwatch = watchToken(ctx.auth, req.headers.authorization!, (reason) => {
          req.log.info({ reason: (reason as { code?: string }).code ?? reason.message }, 'change stream closed: its token is no longer accepted');
          close();
        });
        res.on('close', () => {
          open.delete(close);
          unwatch();
          unsubscribe();
          clearInterval(heartbeat);
          clearTimeout(end);
          if (pending) clearTimeout(pending);
        });
      },
    );
  };
