import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ForbiddenError, NotFoundError } from '@onestop/events';
import { issueToken, type Principal, type ServiceModule } from '@onestop/kit';
import { DEMO_PARTNERS, DEMO_PRINCIPALS } from '../demo.js';
import { consoleBundle, type ConsoleAsset } from './build.js';

// The work console (/app): a page and its bundle, public like the dashboard
// page (they hold no data; every datum comes from the API with the user's
// token). Sign-in:
// - production: OpenID Connect authorization code with PKCE, done by the
//   browser against ONESTOP_OIDC_ISSUER (the page's CSP lets it reach that
//   origin and nothing else);
// - development: POST /app/session mints a token for a demo user picked from a
//   list. Refused in production and wherever tokens are not ours to sign
//   (JWT_JWKS_URL): never a way in on a real deployment.

/** The demo users of the development sign-in: every role and team role, and every partner desk. */
export function demoUsers(): Array<Principal & { id: string }> {
  const people = Object.entries(DEMO_PRINCIPALS).map(([id, p]) => ({ id, ...p }) as Principal & { id: string });
  const desks = DEMO_PARTNERS.map((p) => ({ id: `partner:${p.partnerId}`, sub: `${p.partnerId}-desk`, role: 'partner' as const, partnerId: p.partnerId, name: p.name }));
  return [...people, ...desks];
}

const DEV_TOKEN_HOURS = 8;

export function consoleModule(): ServiceModule {
  return {
    name: 'console',
    title: 'OneStop work console',
    description: 'The work console at /app for operators, the team, partners, auditors and admins (Bootstrap Italia; every action through this API).',
    routes: async (app, { ctx }) => {
      const bundle = await consoleBundle();
      const { config } = ctx;
      const devSignIn = config.NODE_ENV !== 'production' && Boolean(config.JWT_SECRET) && !config.JWT_JWKS_URL;
      const oidc = config.ONESTOP_OIDC_ISSUER && config.ONESTOP_OIDC_CLIENT_ID
        ? { issuer: config.ONESTOP_OIDC_ISSUER, clientId: config.ONESTOP_OIDC_CLIENT_ID, scope: config.ONESTOP_OIDC_SCOPE }
        : null;
      // the page talks to its own origin, and to the OpenID provider for discovery and the token exchange
      const connect = ["'self'", ...(oidc ? [new URL(oidc.issuer).origin] : [])].join(' ');
      const csp =
        `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; ` +
        `connect-src ${connect}; frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'`;
      const hide = { schema: { hide: true } };
      const r = app.withTypeProvider<ZodTypeProvider>();

      const send = (req: FastifyRequest, reply: FastifyReply, a: ConsoleAsset, immutable: boolean) => {
        // compressed once at build time: brotli where the browser takes it, else gzip
        const accepts = String(req.headers['accept-encoding'] ?? '');
        const encoding = a.br && /\bbr\b/.test(accepts) ? 'br' : a.gzip && /\bgzip\b/.test(accepts) ? 'gzip' : undefined;
        const etag = encoding ? `${a.etag.slice(0, -1)}-${encoding}"` : a.etag;
        void reply
          .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
          .header('etag', etag)
          .header('vary', 'accept-encoding')
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', csp);
        if (req.headers['if-none-match'] === etag) return reply.code(304).send();
        if (encoding) void reply.header('content-encoding', encoding);
        return reply.type(a.type).send(encoding ? a[encoding] : a.body);
      };

      app.get('/app', hide, (req, reply) => send(req, reply, bundle.index, false));
      app.get('/app/assets/:name', hide, (req, reply) => {
        const name = (req.params as { name: string }).name;
        const a = bundle.assets.get(name);
        if (!a) throw new NotFoundError('console file', name.slice(0, 100));
        return send(req, reply, a, true);
      });

      r.get(
        '/app/config',
        {
          schema: {
            tags: ['console'],
            summary: 'How the console signs in: the OpenID provider, or (development only) the demo users',
            response: {
              200: z.object({
                oidc: z.object({ issuer: z.string(), clientId: z.string(), scope: z.string() }).nullable(),
                devSignIn: z.boolean(),
                demoUsers: z.array(z.object({ id: z.string(), role: z.string(), teamRole: z.string().optional(), partnerId: z.string().optional(), name: z.string().optional() })),
              }),
            },
          },
        },
        async (_req, reply) => {
          void reply.header('cache-control', 'no-store');
          const users = devSignIn ? demoUsers().map(({ id, role, teamRole, partnerId, name }) => ({ id, role, teamRole, partnerId, name })) : [];
          return { oidc, devSignIn, demoUsers: users };
        },
      );

      r.post(
        '/app/session',
        {
          schema: {
            tags: ['console'],
            summary: 'Development only: a token for a demo user (refused in production)',
            description:
              'Signs a token (HS256, 8 hours) for one of the demo users listed by GET /app/config. Refused (403) when NODE_ENV=production or when tokens come from an identity provider (JWT_JWKS_URL).',
            body: z.object({ user: z.string().min(1).max(100) }).strict(),
            response: { 200: z.object({ token: z.string(), expiresAt: z.string(), user: z.object({ sub: z.string(), role: z.string(), teamRole: z.string().optional(), partnerId: z.string().optional(), name: z.string().optional() }) }) },
          },
        },
        async (req, reply) => {
          if (!devSignIn || !config.JWT_SECRET) throw new ForbiddenError('the development sign-in is off: sign in with the identity provider', 'dev_sign_in_disabled');
          const found = demoUsers().find((u) => u.id === req.body.user);
          if (!found) throw new NotFoundError('demo user', req.body.user.slice(0, 100));
          const { id: _id, ...principal } = found;
          const token = await issueToken(config.JWT_SECRET, principal, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, expiresIn: `${DEV_TOKEN_HOURS}h` });
          void reply.header('cache-control', 'no-store');
          return { token, expiresAt: new Date(Date.now() + DEV_TOKEN_HOURS * 3600_000).toISOString(), user: principal };
        },
      );
    },
  };
}
