import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { InjectOptions } from 'fastify';
import { NotFoundError, RuleViolation, Uuid } from '@onestop/events';
import { AdjustableClock, awaitVisible, buildServiceApp, recordCaseHistoryRead, parseMasterKeys, rotateMasterKey, type Clock } from '@onestop/kit';
import { SIGNATURE_TYPE, formatVkey, verifierOf } from '@onestop/eventstore/merkle';
import { AuditSigningKey, loadAuditConfig, recomputeHeads, verifyDigest, type StreamHeadsDigest } from '@onestop/projections';
import { demoTokens, seedDemo } from '../demo.js';
import { referralOf } from '../modules.js';
import { cliConfig, describeStore, openCli, type CliIo, type Opened } from './context.js';
import { CliError, EXIT, type ExitCode } from './exit.js';
import { Progress } from './progress.js';

// The commands of `onestop`. Each returns its exit code; results go to
// stdout (or --out), progress and notes to stderr.

type Values = Record<string, string | boolean | undefined>;

const line = (io: CliIo, text = '') => io.stdout.write(`${text}\n`);
const note = (io: CliIo, text: string) => io.stderr.write(`${text}\n`);
const progress = (io: CliIo, label: string, unit: string) =>
  new Progress(label, io.stderr, { unit, ...(io.env.ONESTOP_PROGRESS_INTERVAL_MS ? { intervalMs: Number(io.env.ONESTOP_PROGRESS_INTERVAL_MS) } : {}) });

async function withInfra<T>(io: CliIo, run: (o: Opened) => Promise<T>, options: { clock?: Clock } = {}): Promise<T> {
  const opened = await openCli(io.env, options);
  try {
    return await run(opened);
  } finally {
    await opened.close();
  }
}

/** Writes a JSON document to --out (0600: audit material) or to stdout. */
function output(io: CliIo, value: unknown, out: string | undefined, what: string): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (!out) {
    io.stdout.write(text);
    return;
  }
  try {
    writeFileSync(out, text, { mode: 0o600 });
  } catch (err) {
    throw new CliError(`cannot write ${what} to ${out}: ${(err as Error).message}`, EXIT.usage);
  }
  note(io, `${what} written to ${out}`);
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CliError(`${file} is not JSON: ${what} expected`, EXIT.usage);
  }
}

function readDigest(file: string): StreamHeadsDigest {
  const d = readJsonFile(file, 'digest') as Partial<StreamHeadsDigest> | null;
  const ok =
    d !== null &&
    typeof d === 'object' &&
    Number.isInteger(d.position) &&
    Number.isInteger(d.streams) &&
    typeof d.headsSha256 === 'string' &&
    typeof d.signedAt === 'string' &&
    typeof d.keyId === 'string' &&
    typeof d.signature === 'string';
  if (!ok) throw new CliError(`${file} is not a signed digest (position, streams, headsSha256, signedAt, keyId, signature)`, EXIT.usage);
  return d as StreamHeadsDigest;
}

export function positionOption(v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new CliError(`--position must be a whole number ≥ 0, not "${String(v)}"`, EXIT.usage);
  return Number(v);
}

// ── rebuild ─────────────────────────────────────────────────────────────────
export async function rebuild(io: CliIo): Promise<ExitCode> {
  return withInfra(io, async ({ projections, infra }) => {
    note(io, `Rebuilding the read models from ${describeStore(infra.config)} (the current ones keep answering until the swap)…`);
    const bar = progress(io, 'rebuild', 'events');
    const phases = { copy: 'copying the log', catch_up: 'catching up', swapped: 'swapped in' } as const;
    const report = await projections.rebuild((p) => bar.update(p.position, p.headPosition, phases[p.phase]));
    bar.finish('swapped in');
    line(
      io,
      `Read models rebuilt: ${report.events} events up to position ${report.position} in ${(report.durationMs / 1000).toFixed(1)} s ` +
        `(${report.eventsPerSecond} events/s)${report.skipped ? `; ${report.skipped} invalid events left out, as the live consumer dead-letters them` : ''}.`,
    );
    return EXIT.ok;
  });
}

// ── verify ──────────────────────────────────────────────────────────────────
const REASONS: Record<string, string> = {
  hash_mismatch: 'the event does not match its hash',
  prev_hash_mismatch: 'the link to the previous event does not match',
  position_gap: 'an event is missing from the sequence',
};

export async function verify(io: CliIo, values: Values): Promise<ExitCode> {
  return withInfra(io, async ({ projections, infra }) => {
    note(io, `Verifying the hash chain of every stream of ${describeStore(infra.config)}…`);
    const bar = progress(io, 'verify', 'streams');
    const r = await projections.verifyAll((p) => bar.update(p.streams, p.total, p.broken ? `${p.broken} broken` : ''));
    bar.update(r.streams, r.streams, r.broken.length ? `${r.broken.length} broken` : '');
    bar.finish();
    if (values.json) {
      output(io, r, undefined, 'verification');
      // the warning on stderr too, where a script piping the JSON still shows it
      if (r.warning) note(io, `WARNING: ${r.warning}`);
      return r.ok ? EXIT.ok : EXIT.failed;
    }
    for (const b of r.broken) {
      line(io, `BROKEN ${b.streamId}: first broken link at stream position ${b.brokenAt} (${b.reason}: ${REASONS[b.reason] ?? b.reason}); the stream has ${b.events} events.`);
    }
    if (r.broken.length) {
      line(io, `${r.broken.length} of ${r.streams} streams have a broken hash chain (${r.events} events checked, up to position ${r.position}).`);
    } else if (r.warning) {
      line(io, `The hash chains of the ${r.streams} streams hold (${r.events} events, up to position ${r.position}), but that is not a success:`);
    } else {
      line(io, `All hash chains hold: ${r.streams} streams, ${r.events} events, up to position ${r.position}.`);
    }
    if (r.warning) {
      line(io, `WARNING: ${r.warning}`);
    } else if (r.digest) {
      const d = r.digest.comparedWith;
      line(io, `The log holds everything the last signed digest named (signed ${d.signedAt}: ${d.streams} streams, ${d.events} events at position ${d.position}).`);
    } else {
      line(io, 'No digest was signed yet to compare the log with (`onestop digest` signs one and records it).');
    }
    return r.ok ? EXIT.ok : EXIT.failed;
  });
}

// ── digest, public-key, verify-digest ───────────────────────────────────────
export async function digest(io: CliIo, values: Values): Promise<ExitCode> {
  const position = positionOption(values.position);
  return withInfra(io, async ({ projections, infra }) => {
    let d: StreamHeadsDigest;
    try {
      d = await projections.digest(position, { allowEmpty: values['allow-empty'] === true });
    } catch (err) {
      if (err instanceof RuleViolation && err.code === 'empty_log') {
        throw new CliError(
          `refused: the log of ${describeStore(infra.config)} has no event${position === undefined ? '' : ` up to position ${position}`}, and a signed digest of it would vouch for nothing ` +
            '(is this the store you meant? was it restored?). Pass --allow-empty to sign it anyway.',
          EXIT.usage,
        );
      }
      throw err;
    }
    output(io, d, values.out as string | undefined, `signed digest of ${d.streams} stream heads at position ${d.position} (key ${d.keyId})`);
    return EXIT.ok;
  });
}

/** The configured signing key (ONESTOP_AUDIT_SIGNING_KEY, or the development key in ONESTOP_DATA_DIR); no database needed. */
function configuredSigningKey(io: CliIo): AuditSigningKey {
  const config = cliConfig(io.env);
  return AuditSigningKey.load(config, loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: config.ONESTOP_AUDIT_SIGNING_KEY }));
}

export async function publicKey(io: CliIo, values: Values): Promise<ExitCode> {
  const key = configuredSigningKey(io);
  const pem = values.vkey
    ? `${formatVkey(verifierOf(cliConfig(io.env).ONESTOP_LOG_ORIGIN, SIGNATURE_TYPE.note, key.privateKey))}\n`
    : key.publicKeyPem();
  const out = values.out as string | undefined;
  if (!out) {
    io.stdout.write(pem);
  } else {
    try {
      writeFileSync(out, pem);
    } catch (err) {
      throw new CliError(`cannot write the public key to ${out}: ${(err as Error).message}`, EXIT.usage);
    }
    note(io, `public key ${key.keyId} written to ${out}`);
  }
  return EXIT.ok;
}

function readPublicKey(file: string): string | Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the public key ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  if (text.trim().startsWith('{')) {
    try {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      // the body of GET /audit/public-key holds the JWK under "jwk"
      return (jwk.jwk as Record<string, unknown> | undefined) ?? jwk;
    } catch {
      throw new CliError(`${file} is neither a PEM public key nor a JWK`, EXIT.usage);
    }
  }
  return text;
}

export async function verifyDigestCommand(io: CliIo, values: Values, [file]: string[]): Promise<ExitCode> {
  const d = readDigest(file!);
  const key = values['public-key'] ? readPublicKey(values['public-key'] as string) : configuredSigningKey(io).publicKey;
  const keySource = values['public-key'] ? `the public key in ${values['public-key'] as string}` : 'the configured signing key';
  const signature = verifyDigest(d, key as never);
  if (!signature.ok) {
    line(io, `FAILED: the signature of ${file} does not verify with ${keySource} (${signature.reason}).`);
    return EXIT.failed;
  }
  line(io, `Signature OK: ${d.streams} stream heads at position ${d.position}, signed ${d.signedAt} by key ${d.keyId}.`);

  if (values.against) {
    const other = readDigest(values.against as string);
    const check = verifyDigest(other, key as never);
    if (!check.ok) {
      line(io, `FAILED: the signature of ${values.against as string} does not verify with ${keySource} (${check.reason}).`);
      return EXIT.failed;
    }
    if (other.position !== d.position) {
      throw new CliError(
        `the digests are at different positions (${d.position} and ${other.position}): make the second one with --position ${other.position}`,
        EXIT.usage,
      );
    }
    if (other.headsSha256 !== d.headsSha256 || other.streams !== d.streams) {
      line(
        io,
        `MISMATCH: the stream heads at position ${d.position} differ between ${file} (signed ${d.signedAt}) and ${values.against as string} (signed ${other.signedAt}): ` +
          'the log up to that position was rewritten in between.',
      );
      return EXIT.failed;
    }
    line(io, `The digests agree: the same ${d.streams} stream heads at position ${d.position}.`);
  }

  if (values.store) {
    return withInfra(io, async ({ infra }) => {
      const head = await infra.store.headPosition();
      if (head < d.position) {
        line(io, `FAILED: the log of ${describeStore(infra.config)} is at position ${head}, before the digest's ${d.position}.`);
        return EXIT.failed;
      }
      // every chain recomputed from its events: a hand edit that left the hash column alone is found too
      note(io, `Recomputing the hash chain of every stream up to position ${d.position}…`);
      const { heads, broken } = await recomputeHeads(infra.store, d.position);
      for (const b of broken) {
        line(io, `BROKEN ${b.streamId}: first broken link at stream position ${b.brokenAt} (${b.reason}: ${REASONS[b.reason] ?? b.reason}).`);
      }
      if (broken.length) {
        line(io, `MISMATCH: ${broken.length} streams of ${describeStore(infra.config)} do not recompute to their stored heads up to position ${d.position}: the log was altered since the digest was signed.`);
        return EXIT.failed;
      }
      const r = verifyDigest(d, key as never, heads);
      if (!r.ok) {
        line(io, `MISMATCH: the stream heads of ${describeStore(infra.config)} at position ${d.position} are not the ones the digest was made of (${r.reason}): the log was rewritten since.`);
        return EXIT.failed;
      }
      line(io, `The store agrees: its ${heads.length} stream heads at position ${d.position}, recomputed from every event, are the ones the digest was made of.`);
      return EXIT.ok;
    });
  }
  return EXIT.ok;
}

// ── the verifiable log: checkpoint, inclusion-proof, consistency-proof ──────
const sizeArgument = (v: string | undefined, what: string): number => {
  if (v === undefined || !/^\d{1,15}$/.test(v)) throw new CliError(`${what} must be a whole number ≥ 0, not "${String(v)}"`, EXIT.usage);
  return Number(v);
};

export async function checkpointCommand(io: CliIo, values: Values): Promise<ExitCode> {
  return withInfra(io, async ({ projections, infra }) => {
    const c = await projections.checkpoints.sign();
    if (!c) throw new CliError(`refused: the log of ${describeStore(infra.config)} has no event: there is nothing to sign`, EXIT.usage);
    const out = values.out as string | undefined;
    if (out) writeFileSync(out, c.note);
    else io.stdout.write(c.note);
    note(io, `checkpoint of ${c.treeSize} leaves${c.finalAt ? ', final' : `, not final yet (${c.cosignedBy.length} of ${projections.checkpoints.quorum} witness cosignatures)`}${out ? `, written to ${out}` : ''}`);
    return EXIT.ok;
  });
}

export async function inclusionProofCommand(io: CliIo, values: Values, [eventId]: string[]): Promise<ExitCode> {
  if (!Uuid.safeParse(eventId).success) throw new CliError(`"${eventId}" is not an event id (a UUID)`, EXIT.usage);
  const size = values.size === undefined ? undefined : sizeArgument(values.size as string, '--size');
  return withInfra(io, async ({ projections, infra }) => {
    const at = await projections.checkpoints.log.locate(eventId!);
    if (!at) throw new CliError(`no event ${eventId} in ${describeStore(infra.config)}`, EXIT.usage);
    const { checkpoint, inclusionProof } = await projections.checkpoints.inclusion(at.globalPosition, size);
    output(io, { checkpoint: checkpoint.note, final: checkpoint.finalAt !== null, inclusionProof }, values.out as string | undefined, `inclusion proof of ${eventId}`);
    return EXIT.ok;
  });
}

export async function consistencyProofCommand(io: CliIo, values: Values, [from, to]: string[]): Promise<ExitCode> {
  const [a, b] = [sizeArgument(from, '<from size>'), sizeArgument(to, '<to size>')];
  return withInfra(io, async ({ projections }) => {
    const c = await projections.checkpoints.consistency(a, b);
    output(io, { from: c.from.note, to: c.to.note, proof: c.proof }, values.out as string | undefined, `consistency proof ${a} → ${b}`);
    return EXIT.ok;
  });
}

// ── export-case ─────────────────────────────────────────────────────────────
export async function exportCase(io: CliIo, values: Values, [personId]: string[]): Promise<ExitCode> {
  if (!Uuid.safeParse(personId).success) throw new CliError(`"${personId}" is not a person id (a UUID)`, EXIT.usage);
  const readBy = (values.as as string | undefined) ?? io.env.ONESTOP_CLI_READER ?? `cli:${safeUser()}`;
  return withInfra(io, async ({ projections, infra }) => {
    try {
      await projections.cases.mustExist(personId!);
    } catch (err) {
      if (err instanceof NotFoundError) throw new CliError(`no case ${personId} in ${describeStore(infra.config)}`, EXIT.usage);
      throw err;
    }
    const behind = await projections.lag();
    if (behind > 0) {
      note(io, `note: the read models are ${behind} streams behind the store; a stream of this case they have not seen yet would be missing (run the services, or \`onestop rebuild\`, first)`);
    }
    // recorded before anything is shown, as the auditors' API does (DESIGN §6)
    const read = await recordCaseHistoryRead(
      infra.store,
      { personId: personId!, purpose: 'export', readBy },
      { source: '/onestop/cli', actor: { id: readBy, role: 'auditor' }, correlationId: randomUUID(), causationId: null, time: infra.clock.now().toISOString() },
    );
    // the export holds its own read: wait until the gap-safe log shows it
    await awaitVisible(infra.store, read.position);
    const history = await projections.cases.history(personId!);
    output(io, { ...history, read }, values.out as string | undefined, `case history of ${personId} (${history.events.length} events in ${history.streams.length} streams; the read is recorded as event ${read.eventId})`);
    return EXIT.ok;
  });
}

function safeUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

// ── seed-demo ───────────────────────────────────────────────────────────────

export async function seedDemoCommand(io: CliIo): Promise<ExitCode> {
  const clock = new AdjustableClock();
  return withInfra(
    io,
    async ({ infra, modules, projections }) => {
      if (infra.config.NODE_ENV === 'production') throw new CliError('refused: seed-demo does not run with NODE_ENV=production', EXIT.usage);
      const head = await infra.store.headPosition();
      if (head > 0) {
        throw new CliError(
          `refused: ${describeStore(infra.config)} is not empty (its log is at position ${head}); seed-demo only seeds an empty store` +
            (infra.config.ONESTOP_STORE === 'embedded' ? ` (to start over, delete ${infra.config.ONESTOP_DATA_DIR})` : ''),
          EXIT.usage,
        );
      }
      const tokens = await demoTokens(infra);
      if (Object.keys(tokens).length === 0) throw new CliError('refused: seed-demo needs JWT_SECRET (it acts through the API with demo tokens)', EXIT.usage);
      note(io, `Seeding the demo network into ${describeStore(infra.config)} through the services' API…`);
      const app = await buildServiceApp({ title: 'OneStop', description: 'seed-demo', modules, ctx: infra });
      const stops: Array<() => Promise<void>> = [];
      try {
        for (const m of modules) if (m.start) stops.push(await m.start(infra));
        // the demo acts through the API: its calls are the progress (their number is not known beforehand)
        const calls = progress(io, 'seed-demo', 'API calls');
        let n = 0;
        const counted = new Proxy(app, {
          get(target, prop, receiver) {
            if (prop !== 'inject') return Reflect.get(target, prop, receiver) as unknown;
            return (opts: InjectOptions) => {
              calls.update(++n, undefined, 'partners, persons, consents, assessments, referrals');
              return target.inject(opts);
            };
          },
        });
        const seeded = await seedDemo(counted, tokens, clock);
        calls.finish('done');
        // some demo answers are already late: the SLA watcher marks them now
        const overdue = await referralOf(modules).referrals(infra).markOverdue(clock.now());
        // the read models are part of what is seeded: wait until they hold everything
        const bar = progress(io, 'read models', 'streams');
        const position = await infra.store.headPosition();
        const total = (await infra.store.streamHeads()).length;
        const deadline = Date.now() + 120_000;
        for (;;) {
          const behind = await projections.lag();
          bar.update(total - behind, total, 'catching up');
          if (behind === 0) break;
          if (Date.now() > deadline) throw new CliError(`the read models did not catch up within 120 s (${behind} streams behind)`, EXIT.infrastructure);
          await new Promise((r) => setTimeout(r, 100));
        }
        bar.finish('up to date');
        line(
          io,
          `Demo network seeded: ${seeded.persons} persons, ${seeded.referrals} referrals (${overdue} overdue), log at position ${position}. ` +
            'Start the services with `npm start` to get a token per role.',
        );
        return EXIT.ok;
      } finally {
        for (const stop of stops) await stop();
        await app.close();
      }
    },
    { clock },
  );
}

// ── rotate-keys ─────────────────────────────────────────────────────────────
export async function rotateKeys(io: CliIo): Promise<ExitCode> {
  return withInfra(io, async ({ infra }) => {
    const spec = infra.config.ONESTOP_MASTER_KEYS!;
    const masters = parseMasterKeys(spec);
    note(io, `Re-wrapping every person's data key with the active master key "${masters.activeKid}" (configured: ${[...masters.keys.keys()].join(', ')})…`);
    const bar = progress(io, 'rotate-keys', 'keys');
    bar.update(0, 0);
    const report = await rotateMasterKey(infra.db, spec, { onProgress: (p) => bar.update(p.rewrapped, p.total) });
    bar.finish();
    line(
      io,
      `Master key "${report.activeKid}" now wraps every data key: ${report.rewrapped} re-wrapped, ${report.alreadyActive} already under it, ` +
        `${report.erased} destroyed by erasure, ${report.remaining} remaining under another key.`,
    );
    if (report.remaining > 0) {
      line(io, 'Some data keys are still under another master key (a process with the old configuration created them meanwhile): run rotate-keys again.');
      return EXIT.failed;
    }
    if (masters.keys.size > 1) line(io, `The other master keys (${[...masters.keys.keys()].filter((k) => k !== report.activeKid).join(', ')}) can now be removed from ONESTOP_MASTER_KEYS.`);
    else if (report.rewrapped === 0) line(io, 'Nothing to rotate to: put the new master key first, ONESTOP_MASTER_KEYS=new:<base64>,old:<base64>.');
    return EXIT.ok;
  });
}

// ── dlq ─────────────────────────────────────────────────────────────────────
// Dead letters are what a consumer could not handle (bus.dead_letters). Their
// values are ids and ciphertext (no plain personal data goes to the bus); the
// CLI prints them as stored and never decrypts anything.

function limitOption(v: string | boolean | undefined): number {
  if (v === undefined) return 100;
  if (typeof v !== 'string' || !/^\d{1,6}$/.test(v) || Number(v) < 1) throw new CliError(`--limit must be a whole number from 1 to 999999, not "${String(v)}"`, EXIT.usage);
  return Number(v);
}

function deadLetterId(v: string | undefined): string {
  if (v === undefined || !/^\d{1,18}$/.test(v)) throw new CliError(`"${v ?? ''}" is not a dead letter id (a whole number, as \`onestop dlq list\` shows)`, EXIT.usage);
  return v;
}

const oneLine = (s: string, max: number) => {
  const t = s.replace(/\s+/g, ' ');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};

export async function dlqList(io: CliIo, values: Values): Promise<ExitCode> {
  const limit = limitOption(values.limit);
  return withInfra(io, async ({ infra }) => {
    const letters = await infra.bus.deadLetters(values.group as string | undefined, limit);
    // the list leaves the value and headers out: `dlq show` has them
    const rows = letters.map(({ payload: _payload, headers: _headers, ...rest }) => rest);
    if (values.json) {
      output(io, rows, undefined, 'dead letters');
      return EXIT.ok;
    }
    if (rows.length === 0) {
      line(io, `No dead letters${values.group ? ` of ${values.group as string}` : ''}.`);
      return EXIT.ok;
    }
    for (const l of rows) {
      line(io, `${l.id.padStart(6)}  ${l.recordedAt}  ${l.group}  ${l.status}${l.redriveOf ? ` (re-drive of ${l.redriveOf})` : ''}  ${l.origin}  ${oneLine(l.reason, 160)}`);
    }
    note(io, `${rows.length} dead letter${rows.length === 1 ? '' : 's'}${rows.length === limit ? ` (the newest ${limit}; --limit for more)` : ''}.`);
    return EXIT.ok;
  });
}

export async function dlqShow(io: CliIo, [id]: string[]): Promise<ExitCode> {
  const letterId = deadLetterId(id);
  return withInfra(io, async ({ infra }) => {
    const letter = await infra.bus.deadLetter(letterId);
    if (!letter) throw new CliError(`no dead letter ${letterId}`, EXIT.usage);
    output(io, letter, undefined, `dead letter ${letterId}`);
    return EXIT.ok;
  });
}

export async function dlqRedrive(io: CliIo, values: Values, positionals: string[]): Promise<ExitCode> {
  const reason = typeof values.reason === 'string' ? values.reason.trim() : '';
  if (!reason) throw new CliError('a re-drive needs --reason <text> (it is recorded with who and when)\nusage: onestop dlq redrive (<id> | --all [--group <group>]) --reason <text>', EXIT.usage);
  if (values.all ? positionals.length > 0 : positionals.length !== 1) {
    throw new CliError('give one dead letter id, or --all\nusage: onestop dlq redrive (<id> | --all [--group <group>]) --reason <text>', EXIT.usage);
  }
  if (!values.all && values.group) throw new CliError('--group goes with --all', EXIT.usage);
  const ids = values.all ? undefined : [deadLetterId(positionals[0])];
  const actor = (values.as as string | undefined) ?? io.env.ONESTOP_CLI_ACTOR ?? `cli:${safeUser()}`;
  return withInfra(io, async ({ infra }) => {
    let targets: string[];
    if (ids) {
      if (!(await infra.bus.deadLetter(ids[0]!))) throw new CliError(`no dead letter ${ids[0]!}`, EXIT.usage);
      targets = ids;
    } else {
      const open = (await infra.bus.deadLetters(values.group as string | undefined, 1_000_000)).filter((l) => l.status === 'open');
      // oldest first: the order they failed in
      targets = open.map((l) => l.id).reverse();
    }
    for (const id of targets) {
      const r = await infra.bus.redrive(id, { actor, reason });
      line(io, `Dead letter ${id} re-driven by ${r.by} at ${r.at}.`);
    }
    if (values.all) line(io, `${targets.length} dead letter${targets.length === 1 ? '' : 's'} re-driven${values.group ? ` for ${values.group as string}` : ''}.`);
    if (targets.length > 0) {
      note(io, infra.bus.kind === 'kafka' ? 'Their groups handle them now.' : 'Their groups handle them within a second of running (npm start, or the service).');
    }
    return EXIT.ok;
  });
}
