import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canonicalJson, ConflictError, RuleViolation, ValidationError } from '@onestop/events';
import { applySchema, type SqlDriver } from '@onestop/eventstore';

const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS kit;
-- Idempotency-Key (IETF draft): the first response to a key is kept and
-- replayed for a retry with the same body, so a command is never applied twice.
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
`;

export async function migrateIdempotency(db: SqlDriver): Promise<void> {
  await applySchema(db, 7411072, SCHEMA);
}

const KEY = /^[\x21-\x7e]{1,200}$/;

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { principal: string; key: string };
  }
}

/**
 * Honours `Idempotency-Key` on routes marked `config: { idempotent: true }`:
 * same key and body → the stored response (header `Idempotent-Replayed: true`);
 * same key, other body → 422; same key still in flight → 409.
 */
export function registerIdempotency(app: FastifyInstance, db: SqlDriver): void {
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
    // a claim left pending by a crashed request is taken over after a minute
    const inserted = await db.query(
      `INSERT INTO kit.idempotency_keys (principal, key, fingerprint) VALUES ($1, $2, $3)
       ON CONFLICT (principal, key) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = now()
         WHERE kit.idempotency_keys.status IS NULL AND kit.idempotency_keys.created_at < now() - interval '60 seconds'
       RETURNING key`,
      [principal, key, fingerprint],
    );
    if (inserted.length === 1) {
      req.idempotency = { principal, key };
      return;
    }
    const rows = await db.query<{ fingerprint: string; status: number | null; content_type: string | null; body: string | null }>(
      'SELECT fingerprint, status, content_type, body FROM kit.idempotency_keys WHERE principal = $1 AND key = $2',
      [principal, key],
    );
    const row = rows[0];
    if (!row) throw new ConflictError('idempotency_key_in_use', 'a request with this Idempotency-Key is in progress');
    if (row.fingerprint !== fingerprint) {
      throw new RuleViolation('idempotency_key_reused', 'this Idempotency-Key was used with another request body');
    }
    if (row.status === null) throw new ConflictError('idempotency_key_in_use', 'a request with this Idempotency-Key is in progress');
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
    if (reply.statusCode >= 500) {
      // a fault, not an answer: let the client retry with the same key
      await db.query('DELETE FROM kit.idempotency_keys WHERE principal = $1 AND key = $2', [idem.principal, idem.key]);
    } else {
      await db.query('UPDATE kit.idempotency_keys SET status = $3, content_type = $4, body = $5 WHERE principal = $1 AND key = $2', [
        idem.principal,
        idem.key,
        reply.statusCode,
        String(reply.getHeader('content-type') ?? 'application/json'),
        typeof payload === 'string' ? payload : payload == null ? '' : String(payload),
      ]);
    }
    return payload;
  });
}
