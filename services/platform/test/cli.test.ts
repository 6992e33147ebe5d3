import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, RuleViolation, TOPICS } from '@onestop/events';
import { openTestInfrastructure } from '@onestop/kit/testing';
import { createTestDatabase, eventually, type TestDatabase } from '@onestop/testkit';
import { Progress } from '../src/cli/progress.js';
import { onestop, shown } from './onestop-cli.js';

// The real `onestop` command (onestop-cli.ts), on a fresh embedded data directory and on a PostgreSQL test database.

const dirs: string[] = [];
const tempDir = (label: string) => {
  const d = mkdtempSync(join(tmpdir(), `onestop-cli-${label}-`));
  dirs.push(d);
  return d;
};
/** Writes a file in `d`; its path. */
const file = (d: string, name: string, text: string) => {
  writeFileSync(join(d, name), text);
  return join(d, name);
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the progress renderer', () => {
  it('redraws one line with a bar on a terminal, and prints plain lines now and then elsewhere', () => {
    let t = 0;
    const now = () => t;
    const tty: string[] = [];
    const bar = new Progress('verify', { write: (s: string) => tty.push(s), isTTY: true, columns: 100 }, { unit: 'streams', now });
    bar.update(0, 4);
    t = 10;
    bar.update(1, 4); // within the redraw interval: skipped
    t = 200;
    bar.update(2, 4);
    t = 300;
    bar.update(4, 4);
    bar.finish();
    expect(tty).toHaveLength(4);
    expect(tty[1]!.startsWith('\r\u001b[K')).toBe(true);
    expect(tty[1]!.slice(4)).toMatch(/^verify \[█{15}░{15}\] {2}50% 2\/4 streams 0\.2 s$/);
    expect(tty[3]).toMatch(/\] 100% 4\/4 streams 0\.3 s\n$/);

    t = 0;
    const plain: string[] = [];
    const lines = new Progress('rebuild', { write: (s: string) => plain.push(s) }, { unit: 'events', intervalMs: 1000, now });
    lines.update(0, 3000, 'copying the log');
    t = 500;
    lines.update(1000, 3000, 'copying the log'); // too soon
    t = 1500;
    lines.update(2000, 3000, 'copying the log');
    lines.update(3000, 3000, 'copying the log'); // 100%: left to finish()
    t = 1600;
    lines.finish('swapped in');
    expect(plain).toEqual(['rebuild: 0% (0/3,000 events)  copying the log\n', 'rebuild: 66% (2,000/3,000 events)  copying the log\n', 'rebuild: 100% (3,000/3,000 events)  swapped in in 1.6 s\n']);

    const unknown: string[] = [];
    const count = new Progress('seed-demo', { write: (s: string) => unknown.push(s) }, { unit: 'API calls', now });
    count.update(5);
    count.finish();
    expect(unknown).toEqual(['seed-demo: 5 API calls\n', 'seed-demo: 100% (5/5 API calls) in 0.0 s\n']);
  });
});

describe('onestop on the embedded store', () => {
  const dir = tempDir('embedded');
  const env = { ONESTOP_DATA_DIR: join(dir, 'data') };

  it('explains itself: --help lists the commands and the exit codes; usage errors exit 2', async () => {
    const help = await onestop(['--help'], env);
    expect(help.code, shown(help)).toBe(0);
    for (const command of ['rebuild', 'verify', 'digest', 'verify-digest', 'export-case', 'seed-demo', 'rotate-keys']) expect(help.stdout).toContain(`  ${command}`);
    expect(help.stdout).toMatch(/Exit codes:\n {2}0 {2}ok\n {2}1 .*\n {2}2 .*usage error.*\n {2}3 .*infrastructure/);

    const unknown = await onestop(['frobnicate'], env);
    expect(unknown.code, shown(unknown)).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const none = await onestop([], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: onestop <command>');
    const option = await onestop(['verify', '--bogus'], env);
    expect(option.code, shown(option)).toBe(2);
    expect(option.stderr).toMatch(/Unknown option '--bogus'[\s\S]*usage: onestop verify/);
    const missing = await onestop(['verify-digest'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('verify-digest needs <file>');
    // usage errors are caught before anything is opened
    expect(existsSync(env.ONESTOP_DATA_DIR)).toBe(false);
  }, 60_000);

  it('seeds the demo network into an empty store, and refuses a store that is not empty (exit 2)', async () => {
    const seeded = await onestop(['seed-demo'], env);
    expect(seeded.code, shown(seeded)).toBe(0);
    expect(seeded.stdout).toMatch(/Demo network seeded: 12 persons, 9 referrals \(\d+ overdue\), log at position \d+/);
    expect(seeded.stderr).toMatch(/seed-demo: \d+ API calls/);
    const again = await onestop(['seed-demo'], env);
    expect(again.code, shown(again)).toBe(2);
    expect(again.stderr).toMatch(/refused: the embedded store in .* is not empty \(its log is at position \d+\)/);
  }, 240_000);

  it('verifies every hash chain, signs a digest and checks it offline', async () => {
    const verified = await onestop(['verify'], env);
    expect(verified.code, shown(verified)).toBe(0);
    expect(verified.stdout).toMatch(/^All hash chains hold: \d+ streams, \d+ events, up to position \d+\.\nNo digest was signed yet to compare the log with/);
    expect(verified.stderr).toMatch(/verify: 100% \(\d+\/\d+ streams\)/);

    const file = join(dir, 'digest.json');
    const signed = await onestop(['digest', '--out', file], env);
    expect(signed.code, shown(signed)).toBe(0);
    const d = JSON.parse(readFileSync(file, 'utf8'));
    expect(d).toMatchObject({ position: expect.any(Number), streams: expect.any(Number), headsSha256: expect.stringMatching(/^[0-9a-f]{64}$/), signature: expect.any(String) });

    // with the configured key, and with the exported public key alone
    const ok = await onestop(['verify-digest', file], env);
    expect(ok.code, shown(ok)).toBe(0);
    expect(ok.stdout).toContain(`Signature OK: ${d.streams} stream heads at position ${d.position}`);
    const pem = join(dir, 'public.pem');
    expect((await onestop(['public-key', '--out', pem], env)).code).toBe(0);
    const offline = await onestop(['verify-digest', file, '--public-key', pem], { ONESTOP_DATA_DIR: join(dir, 'elsewhere') });
    expect(offline.code, shown(offline)).toBe(0);
    // the store still has the heads the digest was made of
    const store = await onestop(['verify-digest', file, '--store'], env);
    expect(store.code, shown(store)).toBe(0);
    expect(store.stdout).toContain('The store agrees');

    // a digest altered after signing fails (exit 1); a file that is no digest is a usage error
    const forged = join(dir, 'forged.json');
    writeFileSync(forged, JSON.stringify({ ...d, streams: d.streams + 1 }));
    const bad = await onestop(['verify-digest', forged, '--public-key', pem], env);
    expect(bad.code, shown(bad)).toBe(1);
    expect(bad.stdout).toContain('(bad_signature)');
    writeFileSync(forged, '{"hello": 1}');
    expect((await onestop(['verify-digest', forged], env)).code).toBe(2);
    expect((await onestop(['digest', '--position', 'soon'], env)).code).toBe(2);
  }, 240_000);

  it('rebuilds the read models with progress', async () => {
    const rebuilt = await onestop(['rebuild'], env);
    expect(rebuilt.code, shown(rebuilt)).toBe(0);
    expect(rebuilt.stderr).toMatch(/rebuild: 100% \((\d+)\/\1 events\) {2}swapped in in [\d.]+ s/);
    expect(rebuilt.stdout).toMatch(/^Read models rebuilt: \d+ events up to position \d+ in [\d.]+ s/);
  }, 120_000);

  it('rotates the master key: every data key is re-wrapped by the new one, and a second run has nothing left to do', async () => {
    const secrets = JSON.parse(readFileSync(join(env.ONESTOP_DATA_DIR, 'dev-secrets.json'), 'utf8')) as { ONESTOP_MASTER_KEYS: string };
    const keys = `rotated-2:${randomBytes(32).toString('base64')},${secrets.ONESTOP_MASTER_KEYS}`;
    const rotated = await onestop(['rotate-keys'], { ...env, ONESTOP_MASTER_KEYS: keys });
    expect(rotated.code, shown(rotated)).toBe(0);
    expect(rotated.stdout).toContain('Master key "rotated-2" now wraps every data key: 12 re-wrapped, 0 already under it, 0 destroyed by erasure, 0 remaining');
    expect(rotated.stdout).toContain('can now be removed from ONESTOP_MASTER_KEYS');
    expect(rotated.stderr).toMatch(/rotate-keys: 100% \(12\/12 keys\)/);
    const again = await onestop(['rotate-keys'], { ...env, ONESTOP_MASTER_KEYS: keys });
    expect(again.stdout, shown(again)).toContain('0 re-wrapped, 12 already under it');
    // without the old key nothing can be unwrapped any more, but nothing needs to be: the new one alone is enough
    const alone = await onestop(['rotate-keys'], { ...env, ONESTOP_MASTER_KEYS: keys.split(',')[0]! });
    expect(alone.code, shown(alone)).toBe(0);
  }, 240_000);
});

describe('onestop on PostgreSQL', () => {
  let db: TestDatabase;
  /** the test's own connection to the same database, to look and to tamper */
  let sql: { query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }> };
  let infra: Awaited<ReturnType<typeof openTestInfrastructure>>;
  const dir = tempDir('postgres');
  let env: Record<string, string>;
  let before: { position: number; signedAt: string; streams: number };
  const oldDigest = join(dir, 'old-digest.json');

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    env = { ONESTOP_STORE: 'postgres', DATABASE_URL: db.url, ONESTOP_DATA_DIR: join(dir, 'data') };
    infra = await openTestInfrastructure({ databaseUrl: db.url });
    sql = { query: async <R>(text: string, params?: unknown[]) => ({ rows: await infra.db.query<R & Record<string, unknown>>(text, params) }) };
  });
  afterAll(async () => {
    await infra?.close();
    await db?.drop();
  });

  it('seeds, verifies (exit 0) and signs a digest that verifies (exit 0)', async () => {
    const seeded = await onestop(['seed-demo'], env);
    expect(seeded.code, shown(seeded)).toBe(0);
    const verified = await onestop(['verify'], env);
    expect(verified.code, shown(verified)).toBe(0);
    expect(verified.stdout).toContain('All hash chains hold');
    const signed = await onestop(['digest', '--out', oldDigest], env);
    expect(signed.code, shown(signed)).toBe(0);
    before = JSON.parse(readFileSync(oldDigest, 'utf8'));
    const ok = await onestop(['verify-digest', oldDigest], env);
    expect(ok.code, shown(ok)).toBe(0);
    // the digest is recorded: a healthy store holds everything it named
    const again = await onestop(['verify'], env);
    expect(again.code, shown(again)).toBe(0);
    expect(again.stdout).toContain(`The log holds everything the last signed digest named (signed ${before.signedAt}`);
  }, 240_000);

  it("exports a case's full history as JSON and records the read in its audit stream", async () => {
    const { rows } = await sql.query<{ person_id: string }>(
      "SELECT data->>'personId' AS person_id FROM eventstore.events WHERE event_type = 'ReferredToPartner' ORDER BY global_position LIMIT 1",
    );
    const personId = rows[0]!.person_id;
    const file = join(dir, 'case.json');
    const exported = await onestop(['export-case', personId, '--out', file, '--as', 'revisore-cli'], env);
    expect(exported.code, shown(exported)).toBe(0);
    const body = JSON.parse(readFileSync(file, 'utf8'));
    expect(body.personId).toBe(personId);
    // the export holds its own read, in the case's audit stream
    expect(body.streams.map((s: { streamId: string }) => s.streamId)).toEqual(expect.arrayContaining([`person-${personId}`, `audit-${personId}`]));
    expect(body.events.map((e: { id: string }) => e.id)).toContain(body.read.eventId);
    expect(body.events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['PersonRegistered', 'AssessmentCompleted', 'ReferredToPartner', 'CaseHistoryRead']));
    const positions = body.events.map((e: { globalPosition: number }) => e.globalPosition);
    expect(positions).toEqual([...positions].sort((a: number, b: number) => a - b));
    // personal data stays ciphertext
    expect(body.events[0].data.pii).toMatchObject({ alg: 'A256GCM' });
    const read = await sql.query<{ id: string; data: unknown; actor: unknown }>(
      "SELECT event_id::text AS id, data, metadata->'actor' AS actor FROM eventstore.events WHERE stream_id = $1 AND event_type = 'CaseHistoryRead'",
      [`audit-${personId}`],
    );
    expect(read.rows).toEqual([{ id: body.read.eventId, data: { personId, purpose: 'export', readBy: 'revisore-cli' }, actor: { id: 'revisore-cli', role: 'auditor' } }]);

    // to stdout without --out; an unknown case and a malformed id are refused (exit 2)
    const toStdout = await onestop(['export-case', personId], env);
    expect(toStdout.code, shown(toStdout)).toBe(0);
    const second = JSON.parse(toStdout.stdout);
    expect(second.read.eventId).not.toBe(body.read.eventId);
    expect(second.events.map((e: { id: string }) => e.id)).toEqual(expect.arrayContaining([body.read.eventId, second.read.eventId]));
    const unknown = await onestop(['export-case', '00000000-0000-4000-8000-000000000000'], env);
    expect(unknown.code, shown(unknown)).toBe(2);
    expect(unknown.stderr).toContain('no case 00000000-0000-4000-8000-000000000000');
    expect((await onestop(['export-case', 'Rossi'], env)).code).toBe(2);
  }, 240_000);

  it('signs checkpoints of the verifiable log, gives inclusion and consistency proofs, and verify-proof checks them with no database', async () => {
    const first = await onestop(['checkpoint', '--out', join(dir, 'cp1.txt')], env);
    expect(first.code, shown(first)).toBe(0);
    const vkey = await onestop(['public-key', '--vkey'], env);
    expect(vkey.code, shown(vkey)).toBe(0);
    const logKey = vkey.stdout.trim();
    expect(logKey).toMatch(/^onestop\.local\/log\+[0-9a-f]{8}\+/);
    const size1 = Number(readFileSync(join(dir, 'cp1.txt'), 'utf8').split('\n')[1]);
    const { rows } = await sql.query<{ id: string }>(
      'SELECT event_id::text AS id FROM eventstore.events WHERE global_position <= (SELECT global_position FROM eventstore.merkle_leaves WHERE leaf_index = $1) ORDER BY global_position DESC LIMIT 1',
      [size1 - 1],
    );
    const proof = await onestop(['inclusion-proof', rows[0]!.id, '--out', join(dir, 'inclusion.json')], env);
    expect(proof.code, shown(proof)).toBe(0);
    // offline: another machine with nothing but the files and the vkey
    const offline = { ONESTOP_DATA_DIR: join(dir, 'nowhere'), DATABASE_URL: 'postgres://127.0.0.1:1/none', ONESTOP_STORE: 'postgres' };
    const checked = await onestop(['verify-proof', '--log-key', logKey, '--receipt', join(dir, 'inclusion.json')], offline);
    expect(checked.code, shown(checked)).toBe(0);
    expect(checked.stdout).toContain(`is in the log onestop.local/log at tree size ${size1}`);
    // the log grows (a recorded read), a second checkpoint, and the proof that it extends the first
    expect((await onestop(['export-case', (await sql.query<{ p: string }>("SELECT data->>'personId' AS p FROM eventstore.events WHERE event_type = 'PersonRegistered' LIMIT 1")).rows[0]!.p], env)).code).toBe(0);
    expect((await onestop(['checkpoint', '--out', join(dir, 'cp2.txt')], env)).code).toBe(0);
    const size2 = Number(readFileSync(join(dir, 'cp2.txt'), 'utf8').split('\n')[1]);
    expect(size2).toBeGreaterThan(size1);
    const consistency = await onestop(['consistency-proof', String(size1), String(size2), '--out', join(dir, 'consistency.json')], env);
    expect(consistency.code, shown(consistency)).toBe(0);
    const extends_ = await onestop(['verify-proof', '--log-key', logKey, '--consistency', join(dir, 'consistency.json')], offline);
    expect(extends_.code, shown(extends_)).toBe(0);
    expect((await onestop(['verify-proof', '--log-key', logKey, '--checkpoint', join(dir, 'cp2.txt')], offline)).code).toBe(0);
    // a checkpoint with another root is not the log's signed statement
    const forged = readFileSync(join(dir, 'cp2.txt'), 'utf8').replace(/\n([A-Za-z0-9+/]{43}=)\n/, `\n${Buffer.alloc(32, 7).toString('base64')}\n`);
    const refused = await onestop(['verify-proof', '--log-key', logKey, '--checkpoint', file(dir, 'forged.txt', forged)], offline);
    expect(refused.code, shown(refused)).toBe(1);
    expect(refused.stdout).toContain('FAILED: checkpoint: no valid signature of the log');
  }, 240_000);

  it('verify-digest --store recomputes the chains from the events: an event edited by hand, its hash left alone, fails it (exit 1)', async () => {
    const healthy = await onestop(['verify-digest', oldDigest, '--store'], env);
    expect(healthy.code, shown(healthy)).toBe(0);
    expect(healthy.stdout).toContain(`The store agrees: its ${before.streams} stream heads at position ${before.position}, recomputed from every event`);
    // the edit an insider would make by hand: the reason of a referral, nothing else (the stored hash, and so every head, unchanged)
    const { rows } = await sql.query<{ stream_id: string; stream_position: string; global_position: string; old: unknown }>(
      `WITH target AS (SELECT global_position, data AS old FROM eventstore.events
                        WHERE event_type = 'ReferredToPartner' ORDER BY global_position LIMIT 1)
       UPDATE eventstore.events e SET data = jsonb_set(e.data, '{reason}', '"edited by hand"')
         FROM target WHERE e.global_position = target.global_position
       RETURNING e.stream_id, e.stream_position::text, e.global_position::text, target.old`,
    );
    const edited = rows[0]!;
    expect(Number(edited.global_position)).toBeLessThanOrEqual(before.position);
    try {
      const store = await onestop(['verify-digest', oldDigest, '--store'], env);
      expect(store.code, shown(store)).toBe(1);
      expect(store.stdout).toContain(`BROKEN ${edited.stream_id}: first broken link at stream position ${edited.stream_position} (hash_mismatch`);
      expect(store.stdout).not.toContain('The store agrees');
      // the signature alone still verifies: only the store's content is wrong
      expect((await onestop(['verify-digest', oldDigest], env)).code).toBe(0);
    } finally {
      await sql.query('UPDATE eventstore.events SET data = $2 WHERE global_position = $1', [edited.global_position, edited.old]);
    }
    expect((await onestop(['verify-digest', oldDigest, '--store'], env)).code).toBe(0);
  }, 240_000);

  it('names the stream of an event altered with SQL (verify exits 1), and a fresh digest no longer matches the old one', async () => {
    // an attacker edits the newest event of a person's stream and writes some hash for it
    const { rows } = await sql.query<{ stream_id: string; stream_position: string; global_position: string }>(
      `WITH head AS (
         SELECT stream_id, max(stream_position) AS p FROM eventstore.events
          WHERE stream_id LIKE 'person-%' GROUP BY stream_id ORDER BY stream_id LIMIT 1)
       UPDATE eventstore.events e
          SET data = jsonb_set(e.data, '{municipality}', '"Altrove"'),
              hash = sha256(convert_to(e.data::text || 'forged', 'UTF8'))
         FROM head WHERE e.stream_id = head.stream_id AND e.stream_position = head.p
       RETURNING e.stream_id, e.stream_position::text, e.global_position::text`,
    );
    const altered = rows[0]!;
    expect(Number(altered.global_position)).toBeLessThanOrEqual(before.position);

    const verified = await onestop(['verify'], env);
    expect(verified.code, shown(verified)).toBe(1);
    expect(verified.stdout).toContain(`BROKEN ${altered.stream_id}: first broken link at stream position ${altered.stream_position} (hash_mismatch`);
    expect(verified.stdout).toMatch(/1 of \d+ streams have a broken hash chain/);
    const json = await onestop(['verify', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).broken).toEqual([{ streamId: altered.stream_id, events: expect.any(Number), brokenAt: Number(altered.stream_position), reason: 'hash_mismatch' }]);

    // a fresh digest at the old position is validly signed, but of other heads
    const fresh = join(dir, 'fresh-digest.json');
    const signed = await onestop(['digest', '--position', String(before.position), '--out', fresh], env);
    expect(signed.code, shown(signed)).toBe(0);
    const compared = await onestop(['verify-digest', fresh, '--against', oldDigest], env);
    expect(compared.code, shown(compared)).toBe(1);
    expect(compared.stdout).toContain(`MISMATCH: the stream heads at position ${before.position} differ`);
    // the old digest is still a valid signed statement; the store no longer agrees with it
    expect((await onestop(['verify-digest', oldDigest], env)).code).toBe(0);
    const store = await onestop(['verify-digest', oldDigest, '--store'], env);
    expect(store.code, shown(store)).toBe(1);
    expect(store.stdout).toContain(`BROKEN ${altered.stream_id}: first broken link at stream position ${altered.stream_position} (hash_mismatch`);
    expect(store.stdout).toContain('MISMATCH: 1 streams');
    // digests at different positions cannot be compared: a usage error
    const head = join(dir, 'head-digest.json');
    // (the log has grown since: the reads recorded above)
    expect((await onestop(['digest', '--out', head], env)).code).toBe(0);
    const apart = await onestop(['verify-digest', head, '--against', oldDigest], env);
    expect(apart.code, shown(apart)).toBe(2);
    expect(apart.stderr).toContain(`--position ${before.position}`);
  }, 240_000);

  it('rebuilds the read models with progress (exit 0)', async () => {
    const rebuilt = await onestop(['rebuild'], env);
    expect(rebuilt.code, shown(rebuilt)).toBe(0);
    expect(rebuilt.stderr).toMatch(/rebuild: 100% \(\d+\/\d+ events\)/);
    expect(rebuilt.stdout).toContain('Read models rebuilt');
  }, 120_000);

  it('warns (exit 1) when events were deleted behind the store’s back, naming the streams missing or behind the last digest', async () => {
    const signedFile = join(dir, 'last-digest.json');
    expect((await onestop(['digest', '--out', signedFile], env)).code).toBe(0);
    const signed = JSON.parse(readFileSync(signedFile, 'utf8')) as { signedAt: string; position: number };
    const { rows: gone } = await sql.query<{ stream_id: string }>(
      "DELETE FROM eventstore.events WHERE stream_id = (SELECT min(stream_id) FROM eventstore.events WHERE stream_id LIKE 'referral-%') RETURNING stream_id",
    );
    const { rows: cut } = await sql.query<{ stream_id: string; stream_position: string }>(
      `DELETE FROM eventstore.events e USING (
         SELECT stream_id, max(stream_position) AS p FROM eventstore.events
          WHERE stream_id LIKE 'person-%' GROUP BY stream_id HAVING max(stream_position) > 0 ORDER BY stream_id DESC LIMIT 1) head
        WHERE e.stream_id = head.stream_id AND e.stream_position = head.p
       RETURNING e.stream_id, e.stream_position::text`,
    );
    const missing = gone[0]!.stream_id;
    const behind = cut[0]!;

    const verified = await onestop(['verify'], env);
    expect(verified.code, shown(verified)).toBe(1);
    const warning = verified.stdout.split('\n').find((l) => l.startsWith('WARNING: '));
    expect(warning).toMatch(new RegExp(`^WARNING: the log holds less than the digest signed ${signed.signedAt} \\(position ${signed.position}: `));
    expect(warning).toContain(`1 stream of the digest is missing: ${missing}`);
    expect(warning).toContain(`${behind.stream_id} at revision ${Number(behind.stream_position) - 1}, not ${behind.stream_position}`);

    const json = await onestop(['verify', '--json'], env);
    expect(json.code, shown(json)).toBe(1);
    const body = JSON.parse(json.stdout);
    expect(body).toMatchObject({ ok: false, warning: warning!.slice('WARNING: '.length), digest: { missingStreams: [missing], shrunkStreams: [{ streamId: behind.stream_id }] } });
    expect(json.stderr).toContain(warning);
  }, 240_000);

  it('an emptied store warns against the last digest (exit 1), and digest refuses to sign it (exit 2) unless --allow-empty', async () => {
    await sql.query('DELETE FROM eventstore.events');
    const verified = await onestop(['verify'], env);
    expect(verified.code, shown(verified)).toBe(1);
    expect(verified.stdout).toContain('The hash chains of the 0 streams hold (0 events, up to position 0), but that is not a success:');
    expect(verified.stdout).toMatch(/\nWARNING: the log is empty \(0 streams, 0 events\), yet the digest signed \S+ \(position \d+: \d+ streams, \d+ events\) names \d+ streams/);

    const refused = await onestop(['digest'], env);
    expect(refused.code, shown(refused)).toBe(2);
    expect(refused.stderr).toMatch(/refused: the log of .* has no event, and a signed digest of it would vouch for nothing .*--allow-empty/);
    const forced = await onestop(['digest', '--allow-empty'], env);
    expect(forced.code, shown(forced)).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ position: 0, streams: 0 });
    // signing the empty log on purpose does not hide the digest of what it held
    expect((await onestop(['verify'], env)).code).toBe(1);
  }, 240_000);

  it('lists, shows and re-drives dead letters; the group applies a re-driven message once, and every re-drive is recorded', async () => {
    // a consumer of this database whose handler refuses one event until it is "fixed"
    const personId = randomUUID();
    const event = createEvent('ConsentGiven', { scope: 'assessment', legalBasis: 'explicit_consent', recordedBy: 'op-1' }, `person-${personId}`, personId, {
      source: '/onestop/intake',
      actor: { id: 'op-1', role: 'operator' },
      correlationId: randomUUID(),
      time: new Date().toISOString(),
    });
    await infra.store.append(event.subject, [event], 'no_stream');
    let fixed = false;
    const applied: string[] = [];
    const group = `cli-dlq-${randomUUID().slice(0, 8)}`;
    const consumer = await infra.bus.consume({
      group,
      topics: [TOPICS.intake],
      handle: async (batch) => {
        for (const e of batch.filter((x) => x.id === event.id)) {
          if (!fixed) throw new RuleViolation('not_yet', 'the view cannot take it yet');
          if (!applied.includes(e.id)) applied.push(e.id);
        }
      },
    });
    try {
      await eventually(async () => expect(await infra.bus.deadLetters(group)).toHaveLength(1), 30_000);
      const [letter] = await infra.bus.deadLetters(group);

      const listed = await onestop(['dlq', 'list', '--json', '--group', group], env);
      expect(listed.code, shown(listed)).toBe(0);
      const rows = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
      expect(rows).toEqual([expect.objectContaining({ id: letter!.id, group, status: 'open', reason: 'handler_failed: not_yet: the view cannot take it yet' })]);
      expect(rows[0]).not.toHaveProperty('payload');
      const plain = await onestop(['dlq', 'list', '--group', group, '--limit', '5'], env);
      expect(plain.code, shown(plain)).toBe(0);
      expect(plain.stdout).toContain(`${letter!.id}  `);

      const show = await onestop(['dlq', 'show', letter!.id], env);
      expect(show.code, shown(show)).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ id: letter!.id, group, key: personId, payload: { id: event.id }, redrives: [] });

      // usage: exit 2
      for (const args of [['dlq', 'redrive', letter!.id], ['dlq', 'redrive', '--reason', 'x'], ['dlq', 'show', 'abc'], ['dlq', 'show', '99999999'], ['dlq', 'list', '--limit', '0'], ['dlq', 'frob']]) {
        const r = await onestop(args, env);
        expect(r.code, `${args.join(' ')}: ${shown(r)}`).toBe(2);
      }

      fixed = true;
      const redriven = await onestop(['dlq', 'redrive', letter!.id, '--reason', 'view fixed in 1.4.2', '--as', 'ops:rosa'], env);
      expect(redriven.code, shown(redriven)).toBe(0);
      expect(redriven.stdout).toContain(`Dead letter ${letter!.id} re-driven by ops:rosa`);
      await eventually(async () => expect((await infra.bus.deadLetter(letter!.id))!.status).toBe('resolved'), 30_000);
      expect(applied).toEqual([event.id]);

      // --all takes the open ones only: this one is resolved
      const all = await onestop(['dlq', 'redrive', '--all', '--group', group, '--reason', 'sweep'], env);
      expect(all.code, shown(all)).toBe(0);
      expect(all.stdout).toContain('0 dead letters re-driven');
      // re-driven twice: applied once
      const again = await onestop(['dlq', 'redrive', letter!.id, '--reason', 'once more'], env);
      expect(again.code, shown(again)).toBe(0);
      await eventually(async () => expect((await infra.bus.deadLetter(letter!.id))!.status).toBe('resolved'), 30_000);
      expect(applied).toEqual([event.id]);
      const shownAfter = await onestop(['dlq', 'show', letter!.id], env);
      expect(JSON.parse(shownAfter.stdout).redrives).toEqual([
        expect.objectContaining({ by: 'ops:rosa', reason: 'view fixed in 1.4.2' }),
        expect.objectContaining({ by: expect.stringMatching(/^cli:/), reason: 'once more' }),
      ]);
    } finally {
      await consumer.stop();
    }
  }, 120_000);

  it('exits 3 when the database cannot be reached or the configuration is invalid', async () => {
    const down = await onestop(['verify'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(down.code, shown(down)).toBe(3);
    expect(down.stderr).toMatch(/onestop verify: cannot open the postgres store: .*ECONNREFUSED/);
    const invalid = await onestop(['verify'], { ...env, ONESTOP_STORE: 'mongodb' });
    expect(invalid.code, shown(invalid)).toBe(3);
    expect(invalid.stderr).toContain('ONESTOP_STORE');
  }, 60_000);
});
