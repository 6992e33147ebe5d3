import { issueToken, Principal, type BaseConfig } from '@onestop/kit';
import { cliConfig, type CliIo } from './context.js';
import { CliError, EXIT, type ExitCode } from './exit.js';

// `onestop token`: a bearer token for development and tests, signed with the
// same HS256 secret as `npm start` uses (JWT_SECRET, or the development secret
// kept in ONESTOP_DATA_DIR). Never in production: there, tokens come from the
// identity provider (JWT_JWKS_URL), and a signed token is a key to personal data.

const TTL = /^(\d+)([smhd])$/;
const SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
/** Long enough for a demo week, short enough that a leaked development token dies. */
const MAX_TTL_SECONDS = 30 * 86_400;

/** Seconds of a `--ttl` such as `90m`, `12h`, `7d`. */
export function ttlSeconds(ttl: string): number {
  const m = TTL.exec(ttl);
  if (!m) throw new CliError(`--ttl "${ttl}": a number with s, m, h or d (e.g. 12h, 7d)`, EXIT.usage);
  const seconds = Number(m[1]) * SECONDS[m[2] as keyof typeof SECONDS];
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) throw new CliError(`--ttl "${ttl}": from 1s to 30d`, EXIT.usage);
  return seconds;
}

/** The principal a token is made for, from the command's options (the kit's Principal schema decides). */
export function principalOf(values: Record<string, string | boolean | undefined>): Principal {
  const role = values.role as string | undefined;
  if (!role) throw new CliError('--role is required (operator, team, partner, auditor, admin)', EXIT.usage);
  const teamRole = values['team-role'] as string | undefined;
  const partnerId = values.partner as string | undefined;
  if (teamRole && role !== 'team') throw new CliError('--team-role goes with --role team', EXIT.usage);
  if (partnerId && role !== 'partner') throw new CliError('--partner goes with --role partner', EXIT.usage);
  const sub = (values.sub as string | undefined) ?? ['dev', role, teamRole ?? partnerId].filter(Boolean).join('-').replaceAll('_', '-');
  const r = Principal.safeParse({ sub, role, ...(teamRole ? { teamRole } : {}), ...(partnerId ? { partnerId } : {}), ...(values.name ? { name: values.name } : {}) });
  if (!r.success) throw new CliError(r.error.issues.map((i) => `--${String(i.path[0] ?? 'role').replace('teamRole', 'team-role').replace('partnerId', 'partner')}: ${i.message}`).join('; '), EXIT.usage);
  return r.data;
}

/** `onestop token`: prints the token on stdout, what it is on stderr. */
export async function token(io: CliIo, values: Record<string, string | boolean | undefined>): Promise<ExitCode> {
  const principal = principalOf(values);
  const seconds = ttlSeconds((values.ttl as string | undefined) ?? '12h');
  // refused before anything is loaded: no production secret is read to sign a token
  if (io.env.NODE_ENV === 'production') {
    throw new CliError('token is for development and tests only: in production, tokens come from the identity provider (JWT_JWKS_URL)', EXIT.usage);
  }
  const config: BaseConfig = cliConfig(io.env);
  if (!config.JWT_SECRET) throw new CliError('no JWT_SECRET: this installation verifies tokens of an identity provider (JWT_JWKS_URL)', EXIT.usage);
  const jwt = await issueToken(config.JWT_SECRET, principal, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, expiresIn: `${seconds}s` });
  const what = [principal.role, principal.teamRole, principal.partnerId].filter(Boolean).join(' ');
  io.stderr.write(`token for ${what}, sub ${principal.sub}, expires ${new Date(Date.now() + seconds * 1000).toISOString()}\n`);
  io.stdout.write(`${jwt}\n`);
  return EXIT.ok;
}
