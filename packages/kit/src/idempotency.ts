import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { canonicalJson, RuleViolation, ValidationError } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';
import { runIdempotent } from './request-scope.js';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS kit;
-- Idempotency-Key (IETF draft): the answers already given, kept so a retry
-- with the same key and body gets the same answer back. A cache of answers,
-- not a lock: what keeps a command from being applied twice is the store
-- (a retry makes the same event ids, and an event id is stored once).
CREATE TABLE IF NOT EXISTS kit.idempotency_keys (
  principal   text NOT NULL,
  key         text NOT NULL,
  fingerprint text NOT NULL,
  status      int,
  content_type text,
  body        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);
-- earlier versions claimed a key here before running the request (a row with
-- no answer yet, taken over after a minute): those rows mean nothing now
DELETE FROM kit.idempotency_keys WHERE status IS NULL;
`;

export async function migrateIdempotency(db: SqlDriver): Promise<void> {
  await applySchema(db, 7411072, SCHEMA);
}

const KEY = /^[\x21-\x7e]{1,200}$/;

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { principal: string; key: string; fingerprint: string };
  }
}

/**
 * Honours `Idempotency-Key` on routes marked `config: { idempotent: true }`:
 * same key and body → the answer given before (header `Idempotent-Replayed:
 * true`); same key, other body → 422. A request whose answer is not known yet
 * (still running elsewhere, or its process died) runs again in the key's
 * request scope: it makes the same ids, so whatever it records was recorded
 * once, and it answers as the first one did.
 */
export function registerIdempotency(app: FastifyInstance, db: SqlDriver): void {
  app.addHook('onRoute', (route) => {
    if (!(route.config as { idempotent?: boolean } | undefined)?.idempotent) return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function (this: FastifyInstance, req, reply) {
      const idem = req.idempotency;
      if (!idem) return handler.call(this, req, reply);
      const seed = createHash('sha256').update(`${idem.principal}\n${idem.key}\n${idem.fingerprint}`).digest('hex');
      return runIdempotent(seed, () => handler.call(this, req, reply));
    } as RouteHandlerMethod;
  });

  app.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.routeOptions.config?.idempotent) return;
    const key = req.headers['idempotency-key'];
    if (key === undefined) return;
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new ValidationError('bad Idempotency-Key', [{ path: 'headers.idempotency-key', message: '1–200 visible ASCII characters' }]);
    }
    const principal = req.principal?.sub ?? 'anonymous';
    const fingerprint = createHash('sha256')
      .update(`${req.method} ${req.routeOptions.url} ${canonicalJson(req.params ?? {})} ${canonicalJson(req.body ?? null)}`)
      .digest('hex');
    const rows = await db.query<{ fingerprint: string; status: number; content_type: string | null; body: string | null }>(
      'SELECT fingerprint, status, content_type, body FROM kit.idempotency_keys WHERE principal = $1 AND key = $2 AND status IS NOT NULL',
      [principal, key],
    );
    const row = rows[0];
    if (!row) {
      req.idempotency = { principal, key, fingerprint };
      return;
    }
    if (row.fingerprint !== fingerprint) {
      throw new RuleViolation('idempotency_key_reused', 'this Idempotency-Key was used with another request body');
    }
    return reply
      .code(row.status)
      .header('idempotent-replayed', 'true')
      .type(row.content_type ?? 'application/json')
      .send(row.body ?? '');
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const idem = req.idempotency;
    if (!idem) return payload;
    req.idempotency = undefined;
    // a fault is not an answer, nor is "try again": the client retries with the same key
    if (reply.statusCode >= 500 || (reply.statusCode === 409 && isTryAgain(payload))) return payload;
    // the first answer stays: a retry that ran at the same time answered the same
    await db.query(
      `INSERT INTO kit.idempotency_keys (principal, key, fingerprint, status, content_type, body) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (principal, key) DO NOTHING`,
      [
        idem.principal,
        idem.key,
        idem.fingerprint,
        reply.statusCode,
        String(reply.getHeader('content-type') ?? 'application/json'),
        typeof payload === 'string' ? payload : payload == null ? '' : String(payload),
      ],
    );
    return payload;
  });
}

/** Answers that say nothing was decided (concurrent changes kept winning): not kept, so a retry runs again. */
const TRY_AGAIN = new Set(['concurrency_retries_exhausted', 'wrong_expected_version']);
function isTryAgain(payload: unknown): boolean {
  if (typeof payload !== 'string') return false;
  try {
    return TRY_AGAIN.has((JSON.parse(payload) as { code?: string }).code ?? '');
  } catch {
    return false;
  }
}
