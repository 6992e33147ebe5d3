import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import type { TokenRevocations } from './token-revocation.js';
import {
  ForbiddenError,
  Slug,
  TeamRole,
  UnauthorizedError,
  type Actor,
} from '@onestop/events';

/** Token roles of DESIGN §6. */
export const ROLES = ['operator', 'team', 'partner', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, from a verified bearer token. */
export const Principal = z
  .object({
    sub: z.string().min(1).max(200),
    role: z.enum(ROLES),
    teamRole: TeamRole.optional(),
    partnerId: Slug.optional(),
    name: z.string().max(200).optional(),
  })
  .refine((p) => p.role !== 'partner' || p.partnerId, { message: 'a partner token needs partnerId', path: ['partnerId'] })
  .refine((p) => p.role !== 'team' || p.teamRole, { message: 'a team token needs teamRole', path: ['teamRole'] });
export type Principal = z.infer<typeof Principal>;

/** The actor recorded on events caused by this principal. */
export function actorOf(p: Principal): Actor {
  return {
    id: p.sub,
    role: p.role,
    ...(p.teamRole ? { teamRole: p.teamRole } : {}),
    ...(p.partnerId ? { partnerId: p.partnerId } : {}),
  };
}

export interface AuthOptions {
  /** HS256 shared secret (development and tests) */
  secret?: string;
  /** JWKS URL of the identity provider (production) */
  jwksUrl?: string;
  issuer: string;
  audience: string;
  /**
   * refuse tokens that live longer than this (exp − iat, or exp − now without
   * iat): short-lived tokens, refreshed at the identity provider
   */
  maxLifetimeSeconds?: number;
  /** the deny-list every verified token is checked against, on every request */
  revocations?: Pick<TokenRevocations, 'check' | 'refresh' | 'onChange'>;
}

/** How far ahead of this server the issuer's clock may be when a token without `iat` is measured by exp − now. */
const ISSUER_CLOCK_SKEW_S = 60;
/** How often a watched token is checked again whatever the notifications say (the revocation check's own backstop is 5 s). */
const WATCH_BACKSTOP_MS = 5_000;
/** The longest delay setTimeout takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Verifies bearer tokens: signature, expiry, issuer, audience and OneStop claims. */
export class Authenticator {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: string[];
  // Verified tokens, until they expire (at most a minute): verifying a
  // signature on every request cost a tenth of a busy service's CPU. A token is
  // its own key, so nothing but that exact string can hit the cache.
  // The revocation check runs on every request, cache hit or not.
  private readonly verified = new Map<string, { principal: Principal; claims: { sub: string; jti?: string; iat?: number }; until: number }>();
  /** the longest lifetime a token may have (seconds), when one is set */
  readonly maxLifetimeSeconds: number | undefined;
  readonly revocations: AuthOptions['revocations'];

  constructor(private readonly options: AuthOptions) {
    this.maxLifetimeSeconds = options.maxLifetimeSeconds;
    this.revocations = options.revocations;
    if (options.jwksUrl) {
      // a token signed with a key the cached set does not have makes it fetch the
      // set again (the provider rotated its keys), at most every 5 s
      this.key = createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: 5_000, cacheMaxAge: 10 * 60_000 });
      this.algorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'];
    } else if (options.secret) {
      this.key = new TextEncoder().encode(options.secret);
      this.algorithms = ['HS256'];
    } else {
      throw new Error('Authenticator needs a JWT secret or a JWKS URL');
    }
  }

  /** The principal of an `Authorization` header value, or an UnauthorizedError. */
  async authenticate(header: string | undefined): Promise<Principal> {
    if (!header) throw new UnauthorizedError();
    const m = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(header.trim());
    if (!m) throw new UnauthorizedError('malformed bearer token');
    const token = m[1]!;
    const hit = this.verified.get(token);
    if (hit && hit.until > Date.now()) {
      await this.revocations?.check(hit.claims);
      return hit.principal;
    }
    let payload: unknown;
    try {
      const verified = await jwtVerify(token, this.key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['exp', 'sub'],
      });
      payload = verified.payload;
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new UnauthorizedError(code === 'ERR_JWT_EXPIRED' ? 'token expired' : 'invalid token');
    }
    const p = Principal.safeParse(payload);
    if (!p.success) throw new UnauthorizedError(`token claims: ${p.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    const { exp, iat, jti } = payload as { exp: number; iat?: unknown; jti?: unknown };
    const issuedAt = typeof iat === 'number' ? iat : undefined;
    const max = this.maxLifetimeSeconds;
    if (max !== undefined) {
      const tooLong = (issuedAt !== undefined && exp - issuedAt > max) || exp - Date.now() / 1000 - ISSUER_CLOCK_SKEW_S > max;
      if (tooLong) throw new UnauthorizedError(`token lifetime longer than the ${max} s this server accepts: get a short-lived token (and refresh it at the identity provider)`);
    }
    const claims = { sub: p.data.sub, ...(typeof jti === 'string' ? { jti } : {}), ...(issuedAt !== undefined ? { iat: issuedAt } : {}) };
    await this.revocations?.check(claims);
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(token, { principal: p.data, claims, until: Math.min(exp * 1000, Date.now() + 60_000) });
    return p.data;
  }
}

/**
 * Watches the token of a response that stays open (server-sent events): an
 * answer authenticates once, when it starts, but a token can be revoked or
 * expire while the stream runs. Calls `onInvalid` once, with the reason, when
 * the token expires, when a revocation that names it is read (at once on a
 * change of the revocation list, and at least every 5 s), or when the list
 * cannot be read (nothing is let in that it might deny). Call it after
 * `authenticate` accepted `header`; returns the function that stops watching.
 */
export function watchToken(auth: Pick<Authenticator, 'authenticate' | 'revocations'>, header: string, onInvalid: (reason: Error) => void): () => void {
  let done = false;
  const invalid = (reason: Error) => {
    if (done) return;
    stop();
    onInvalid(reason);
  };
  const check = () => {
    if (!done) auth.authenticate(header).catch(invalid);
  };
  // the signature was verified when the stream opened: the payload's exp can be trusted
  let exp: unknown;
  try {
    exp = decodeJwt(header.trim().slice('Bearer '.length)).exp;
  } catch {
    exp = undefined;
  }
  // at exp (a check then refuses it as expired); past setTimeout's range, the backstop re-verifies it anyway
  const expiry = typeof exp === 'number' && exp * 1000 - Date.now() <= MAX_TIMER_MS ? setTimeout(check, Math.max(0, exp * 1000 - Date.now()) + 10) : undefined;
  const backstop = setInterval(check, WATCH_BACKSTOP_MS);
  const unlisten = auth.revocations?.onChange(check);
  function stop() {
    done = true;
    clearTimeout(expiry);
    clearInterval(backstop);
    unlisten?.();
  }
  return stop;
}

/** Refuses a principal whose role is not among `roles`. */
export function requireRole(p: Principal, roles: readonly Role[]): void {
  if (!roles.includes(p.role)) throw new ForbiddenError(`role ${p.role} may not do this`);
}

/** Signs an HS256 token (development, demo and tests). */
export async function issueToken(
  secret: string,
  principal: Principal,
  options: { issuer?: string; audience?: string; expiresIn?: string | number } = {},
): Promise<string> {
  const { sub, ...claims } = principal;
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(options.issuer ?? 'onestop')
    .setAudience(options.audience ?? 'onestop')
    .setIssuedAt()
    // every token can be revoked on its own (POST /auth/revocations/tokens)
    .setJti(randomUUID())
    .setExpirationTime(options.expiresIn ?? '12h')
    .sign(new TextEncoder().encode(secret));
}
