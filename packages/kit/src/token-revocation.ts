import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createEvent, IsoDateTime, OneStopError, RevocationReason, RuleViolation, type EventData, type EventType, type RawRecordedEvent } from '@onestop/events';
import type { EventStore, SqlDriver } from '@onestop/eventstore';
import { eventContextOf, principalOf } from './server.js';
import type { Infrastructure } from './infrastructure.js';

// Revocation of bearer tokens before they expire (SECURITY.md, "Revoking a
// token"). The revocations are events of one stream in the store, so every
// process of every service reads the same list: nothing rests on one process's
// memory. A revocation's append is followed by a NOTIFY; every process LISTENs
// (as the keyring does for erasures) and reads the stream's new events before
// it authenticates anything else. While a process does not hear notifications
// (before its subscription is up, or after it dropped) it reads the stream's
// tail for every request instead: a revoked token is refused everywhere within
// the time a notification takes, never after a TTL.

/** The stream holding every revocation (no topic carries it). */
export const REVOCATION_STREAM = 'revocation-tokens';
/** Wakes every process to read the revocations appended since it last read. */
export const TOKEN_REVOKED_CHANNEL = 'onestop_token_revoked';

/** A token that verifies, but that an admin revoked. */
export class TokenRevokedError extends OneStopError {
  constructor() {
    super('token_revoked', 'this token has been revoked: get a new one from the identity provider', 401);
  }
}

/** The revocation list cannot be read (the database is down): nothing is let in that it might deny. */
export class RevocationsUnavailableError extends OneStopError {
  constructor() {
    super('revocations_unavailable', 'the token revocation list cannot be read right now; try again shortly', 503);
  }
}

/** What the check needs of a verified token. */
export interface TokenClaims {
  sub: string;
  jti?: string;
  /** seconds since the epoch, as in the token */
  iat?: number;
}

/** The longest a process trusts its list without reading the stream's tail (one index probe), whatever the notifications. */
const BACKSTOP_MS = 5_000;

/** The deny-list of bearer tokens, read from the store and kept current by notifications. */
export class TokenRevocations {
  // jti → until (ms since the epoch; Infinity: never expires)
  private readonly tokens = new Map<string, number>();
  // sub → tokens issued before `before` (ms) are refused until `until`
  private readonly subjects = new Map<string, { before: number; until: number }>();
  private revision = -1;
  private live = false;
  /** when the list was last read to its end (ms) */
  private readAt = 0;
  private reading: Promise<void> | undefined;
  private again = false;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly changeListeners = new Set<() => void>();

  constructor(
    private readonly store: EventStore,
    private readonly db: SqlDriver,
  ) {}

  /** Reads the list and starts hearing of new revocations. */
  async start(): Promise<void> {
    await this.refresh();
    this.unlisten ??= await this.db.listen(
      TOKEN_REVOKED_CHANNEL,
      (payload) => {
        // (re)subscribed: whatever was appended meanwhile is read now
        if (payload === undefined) this.live = true;
        // a failed read must not leave the process believing it is current: the next request reads again
        this.refresh().catch(() => {
          this.live = false;
        });
      },
      () => {
        this.live = false;
      },
    );
  }

  async close(): Promise<void> {
    this.live = false;
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.();
  }

  /** Reads what the stream holds beyond what this process has read; concurrent callers share one read, and a call during a read gets another after it. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    let changed = false;
    const run = async () => {
      do {
        this.again = false;
        const began = Date.now();
        const events = await this.store.readStream(REVOCATION_STREAM, { fromRevision: this.revision + 1 });
        for (const e of events) this.apply(e);
        changed ||= events.length > 0;
        this.readAt = began;
      } while (this.again);
    };
    this.reading = run().finally(() => {
      this.reading = undefined;
      // after the read is done: a listener that checks a token gets the list as read, not another read
      if (changed) for (const l of this.changeListeners) l();
    });
    return this.reading;
  }

  /** Calls `listener` after each read that found new revocations (open streams check their token again); returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Throws TokenRevokedError when the token is revoked. */
  async check(claims: TokenClaims): Promise<void> {
    try {
      // a notification arrived: its read finishes before anything is let in. Without a live
      // listener, or when the last read is older than BACKSTOP_MS (a notification lost: its
      // sender died between the append and the notify), the stream's tail is read first.
      if (!this.live || Date.now() - this.readAt > BACKSTOP_MS) await this.refresh();
      else if (this.reading) await this.reading;
    } catch {
      throw new RevocationsUnavailableError();
    }
    const now = Date.now();
    if (claims.jti !== undefined) {
      const until = this.tokens.get(claims.jti);
      if (until !== undefined && until > now) throw new TokenRevokedError();
    }
    const s = this.subjects.get(claims.sub);
    // a token without `iat` cannot show it was issued after the revocation
    if (s && s.until > now && (claims.iat === undefined || claims.iat * 1000 < s.before)) throw new TokenRevokedError();
  }

  /** How many entries the check holds (diagnostics, tests). */
  get size(): number {
    return this.tokens.size + this.subjects.size;
  }

  private apply(e: RawRecordedEvent): void {
    this.revision = Math.max(this.revision, e.streamPosition);
    const now = Date.now();
    const untilOf = (until: unknown) => (typeof until === 'string' ? Date.parse(until) : Infinity);
    if (e.type === ('TokenRevoked' satisfies EventType)) {
      const d = e.data as { jti: string; until?: string };
      const until = untilOf(d.until);
      if (until > now) this.tokens.set(d.jti, Math.max(until, this.tokens.get(d.jti) ?? 0));
    } else if (e.type === ('SubjectTokensRevoked' satisfies EventType)) {
      const d = e.data as { sub: string; issuedBefore: string; until?: string };
      const until = untilOf(d.until);
      const prev = this.subjects.get(d.sub);
      if (until > now) this.subjects.set(d.sub, { before: Math.max(Date.parse(d.issuedBefore), prev?.before ?? 0), until: Math.max(until, prev?.until ?? 0) });
    }
    // entries leave the check once every token they name has expired anyway
    for (const [jti, until] of this.tokens) if (until <= now) this.tokens.delete(jti);
    for (const [sub, s] of this.subjects) if (s.until <= now) this.subjects.delete(sub);
  }
}

const SOURCE = '/onestop/auth';
const Revoked = z.object({
  until: z.string().nullable().describe('when the entry leaves the check: every token it names has expired by then (null: never)'),
  position: z.number().describe('global position of the revocation event'),
});

/** The admin routes that revoke tokens, mounted on every service. */
export const revocationRoutes: FastifyPluginAsync<{ ctx: Infrastructure }> = async (app, { ctx }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const maxLifetimeMs = ctx.auth.maxLifetimeSeconds === undefined ? undefined : ctx.auth.maxLifetimeSeconds * 1000;

  const record = async <T extends 'TokenRevoked' | 'SubjectTokensRevoked'>(type: T, data: EventData<T>, req: Parameters<typeof eventContextOf>[0]) => {
    // token instants (iat, exp) are on the system clock, as the signature check reads them; the event's time is the service clock's
    const event = createEvent(type, data, REVOCATION_STREAM, 'revocation', eventContextOf(req, SOURCE, ctx.clock.now()));
    const { globalPositions } = await ctx.store.append(REVOCATION_STREAM, [event], 'any');
    // this process at once; the others when the notification reaches them
    await ctx.auth.revocations?.refresh();
    await ctx.db.notify(TOKEN_REVOKED_CHANNEL, 'revoked');
    return globalPositions[0]!;
  };

  r.post(
    '/auth/revocations/tokens',
    {
      config: { roles: ['admin'], idempotent: true },
      schema: {
        tags: ['auth'],
        summary: 'Revoke one bearer token by its id (`jti`): every process of every service refuses it from now on',
        description:
          'The token gets 401 `token_revoked` at every service within the time a database notification takes. The entry leaves the check at `expiresAt` (the token\'s `exp`; one in the past is refused) but never before the longest token lifetime (JWT_MAX_LIFETIME_SECONDS) has passed; ' +
          'without `expiresAt`, once that lifetime has passed.',
        body: z
          .object({
            jti: z.string().min(1).max(200).describe('the `jti` claim of the token'),
            expiresAt: IsoDateTime.optional().describe('the token\'s `exp`, when known'),
            reason: RevocationReason,
          })
          .strict(),
        response: { 201: Revoked },
      },
    },
    async (req, reply) => {
      const { jti, expiresAt, reason } = req.body;
      // a wrong expiresAt must not end the revocation early: refused when past, and never before the longest lifetime
      if (expiresAt !== undefined && Date.parse(expiresAt) <= Date.now()) throw new RuleViolation('expires_at_past', 'expiresAt is in the past: such a token is refused as expired already', {});
      const longest = maxLifetimeMs !== undefined ? Date.now() + maxLifetimeMs : undefined;
      const untilMs = expiresAt !== undefined ? Math.max(Date.parse(expiresAt), longest ?? 0) : longest;
      const until = untilMs !== undefined ? new Date(untilMs).toISOString() : undefined;
      const position = await record('TokenRevoked', { jti, reason, revokedBy: principalOf(req).sub, ...(until ? { until } : {}) }, req);
      return reply.code(201).send({ until: until ?? null, position });
    },
  );

  r.post(
    '/auth/revocations/subjects',
    {
      config: { roles: ['admin'], idempotent: true },
      schema: {
        tags: ['auth'],
        summary: 'Revoke every token of a subject (`sub`) issued before an instant (default: now)',
        description:
          'For a member of staff who left, or a partner system whose secret leaked: every token of that `sub` issued before `issuedBefore` (to the second) gets 401 `token_revoked`; ' +
          'tokens issued afterwards are accepted. A token without `iat` is refused while the entry holds. The entry leaves the check once the longest token lifetime has passed.',
        body: z
          .object({
            sub: z.string().min(1).max(200).describe('the `sub` claim of the tokens'),
            issuedBefore: IsoDateTime.optional().describe('tokens issued before this instant are refused (default: now)'),
            reason: RevocationReason,
          })
          .strict(),
        response: { 201: Revoked },
      },
    },
    async (req, reply) => {
      const { sub, reason } = req.body;
      const issuedBefore = new Date(req.body.issuedBefore ?? Date.now());
      const until = maxLifetimeMs !== undefined ? new Date(issuedBefore.getTime() + maxLifetimeMs).toISOString() : undefined;
      const position = await record('SubjectTokensRevoked', { sub, issuedBefore: issuedBefore.toISOString(), reason, revokedBy: principalOf(req).sub, ...(until ? { until } : {}) }, req);
      return reply.code(201).send({ until: until ?? null, position });
    },
  );
};
