import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalEnvelope } from '@onestop/events';
import { linkHash, type InclusionProof, type MerkleLog } from '@onestop/eventstore';
import { eventually } from '@onestop/testkit';
import { parseVkey, verifyReceipt, verifyCheckpointConsistency } from '@onestop/eventstore/merkle';
import { onestop, shown } from './onestop-cli.js';
import { openPlatform, type Platform } from './platform.js';

// The verifiable log end to end, on PostgreSQL, through the real processes:
// the platform serves checkpoints and proofs over HTTP; two witnesses, each an
// `onestop witness --once` process with its own key and state file, cosign;
// `onestop verify-proof` checks receipts and proofs with no database. The
// policy is 2 of 2 witnesses.

const dir = mkdtempSync(join(tmpdir(), 'onestop-vlog-'));
const ORIGIN = 'pistoia.onestop.example/log';
let p: Platform;
let url: string;
let logVkey: string;
const witness: Record<'A' | 'B', { name: string; key: string; vkey: string; state: string }> = {
  A: { name: 'regione.toscana.example/witness', key: join(dir, 'a.key'), vkey: '', state: join(dir, 'a.state.json') },
  B: { name: 'arti.toscana.example/witness', key: join(dir, 'b.key'), vkey: '', state: join(dir, 'b.state.json') },
};
const file = (name: string, content: string | object) => {
  const f = join(dir, name);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
};
const runWitness = (w: 'A' | 'B') =>
  onestop(['witness', '--log', url, '--name', witness[w].name, '--key', witness[w].key, '--log-key', logVkey, '--state', witness[w].state, '--once'], {
    ONESTOP_WITNESS_TOKEN: p.tokens.auditor,
  });
const verifyProof = (args: string[], policy = false) =>
  onestop(['verify-proof', '--log-key', logVkey, ...(policy ? ['--witness', witness.A.vkey, '--witness', witness.B.vkey, '--quorum', '2'] : []), ...args], {});
const checkpoint = async () => (await p.ok('admin', 'POST', '/audit/log/checkpoints')) as { treeSize: number; note: string; finalAt: string | null };
/** A case every service has heard of (the referral service learns consents and assessments from the bus). */
const settledCase = async () => {
  const c = await p.cases.case();
  await p.settled();
  return c;
};
type Receipt = { status: string; checkpoint: string; inclusionProof: InclusionProof; eventId: string };
const trust = () => ({ log: parseVkey(logVkey), witnesses: [parseVkey(witness.A.vkey), parseVkey(witness.B.vkey)], quorum: 0 });

beforeAll(async () => {
  for (const w of ['A', 'B'] as const) {
    const made = await onestop(['witness-key', witness[w].name, '--out', witness[w].key], {});
    expect(made.code, shown(made)).toBe(0);
    witness[w].vkey = made.stdout.trim();
  }
  p = await openPlatform('vlog', {
    env: { ONESTOP_WITNESSES: `${witness.A.vkey},${witness.B.vkey}`, ONESTOP_WITNESS_QUORUM: '2', ONESTOP_CHECKPOINT_INTERVAL_MS: '0', ONESTOP_LOG_ORIGIN: ORIGIN },
  });
  url = await p.app.listen({ port: 0, host: '127.0.0.1' });
  const keys = (await p.ok('auditor', 'GET', '/audit/log/public-key')) as { vkey: string; witnesses: string[]; quorum: number };
  expect(keys).toMatchObject({ witnesses: [witness.A.vkey, witness.B.vkey], quorum: 2 });
  logVkey = keys.vkey;
  await p.cases.network();
}, 240_000);
afterAll(async () => {
  await p?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the verifiable log, with two witnesses (policy: 2 of 2)', () => {
  it("gives a receipt with a partner's answer; once a checkpoint covers it, it verifies offline", async () => {
    const referralId = await p.cases.referral(await settledCase());
    const answer = (await p.ok('partnerOwn', 'POST', `/referrals/${referralId}/acceptance`, {})) as { receipt: { status: string; href: string; eventId: string } };
    expect(answer.receipt).toMatchObject({ status: expect.stringMatching(/^(pending|included)$/), href: `/audit/log/receipts/${answer.receipt.eventId}` });
    // the tree follows the gap-safe log: a transaction still open anywhere in the (shared) cluster holds it back a moment
    const receipt = await eventually(async () => {
      const c = await checkpoint();
      expect(c.finalAt).toBeNull();
      const r = await p.ok('partnerOwn', 'GET', answer.receipt.href);
      expect(r).toMatchObject({ status: 'included', final: false, inclusionProof: { treeSize: c.treeSize } });
      return r;
    }, 60_000, 500);
    expect((await p.call('partnerOther', 'GET', answer.receipt.href)).statusCode).toBe(404);
    const f = file('receipt.json', receipt);
    const ok = await verifyProof(['--receipt', f]);
    expect(ok.code, shown(ok)).toBe(0);
    // with the event as stored (from the auditors' case history), its hash is recomputed
    const [event] = (await p.infra.store.readStream(`referral-${referralId}`)).filter((e) => e.id === answer.receipt.eventId);
    const withEvent = await verifyProof(['--receipt', f, '--event', file('event.json', event!)]);
    expect(withEvent.code, shown(withEvent)).toBe(0);
    expect(withEvent.stdout).toContain(`OK: event ${event!.id}, its hash recomputed from its content,`);
    // not witnessed yet: the policy is not met
    const policy = await verifyProof(['--receipt', f], true);
    expect(policy.code, shown(policy)).toBe(1);
    expect(policy.stdout).toContain('0 of the 2 witnesses cosigned it');
  }, 240_000);

  it('is final only once both witnesses cosigned; each cosigns again only a checkpoint that extends the last', async () => {
    const c1 = await checkpoint();
    const a = await runWitness('A');
    expect(a.code, shown(a)).toBe(0);
    expect(a.stdout).toContain(`COSIGNED checkpoint ${c1.treeSize} (the first this witness sees`);
    expect((await p.call('auditor', 'GET', '/audit/log/checkpoint')).headers['onestop-checkpoint-final']).toBe('false');
    const b = await runWitness('B');
    expect(b.code, shown(b)).toBe(0);
    expect(b.stdout).toContain('; it is final');
    const final = await p.call('auditor', 'GET', '/audit/log/checkpoint?final=true');
    expect(final.body).toContain(`\n${c1.treeSize}\n`);
    expect(final.body.match(/^— /gm)).toHaveLength(3);
    const verified = await verifyProof(['--checkpoint', file('c1.txt', final.body)], true);
    expect(verified.code, shown(verified)).toBe(0);

    // more traffic, a new checkpoint: both check consistency with what they cosigned
    await p.cases.referral(await settledCase());
    const c2 = await eventually(async () => {
      const c = await checkpoint();
      expect(c.treeSize).toBeGreaterThan(c1.treeSize);
      return c;
    }, 60_000, 500);
    for (const w of ['A', 'B'] as const) {
      const r = await runWitness(w);
      expect(r.code, shown(r)).toBe(0);
      expect(r.stdout).toContain(`COSIGNED checkpoint ${c2.treeSize}, consistent with the last one cosigned`);
    }
    expect((await runWitness('A')).stdout).toContain(`Checkpoint ${c2.treeSize}: already cosigned`);
    const proof = await p.ok('auditor', 'GET', `/audit/log/proofs/consistency?from=${c1.treeSize}&to=${c2.treeSize}`);
    const consistent = await verifyProof(['--consistency', file('c1-c2.json', proof)], true);
    expect(consistent.code, shown(consistent)).toBe(0);
    expect(consistent.stdout).toContain(`the tree of ${c2.treeSize} leaves extends the tree of ${c1.treeSize} leaves`);
  }, 240_000);

  it('keeps proofs valid through an erasure: crypto-shredding changes nothing a leaf covers', async () => {
    const c = await settledCase();
    await p.cases.referral(c);
    const { before, exported } = await eventually(async () => {
      const cp = await checkpoint();
      const ex = (await p.ok('admin', 'GET', `/persons/${c.personId}/export`)) as { receipts: Receipt[] };
      expect(ex.receipts.every((r) => r.status === 'included')).toBe(true);
      return { before: cp, exported: ex };
    }, 60_000, 500);
    // one receipt per event of the case as the export read it
    expect(exported.receipts.length).toBeGreaterThan(3);
    await p.ok('admin', 'POST', `/persons/${c.personId}/erasure`, { reason: 'data_subject_request' });
    const after = await checkpoint();
    // every receipt of the export still verifies, against the events as stored after the erasure
    const stored = new Map((await p.infra.store.readCase(c.personId)).map((e) => [e.id, e]));
    for (const r of exported.receipts) {
      expect(stored.get(r.eventId), r.eventId).toBeDefined();
      expect(verifyReceipt(r, trust(), stored.get(r.eventId)), r.eventId).toMatchObject({ ok: true });
    }
    const proof = (await p.ok('auditor', 'GET', `/audit/log/proofs/consistency?from=${before.treeSize}&to=${after.treeSize}`)) as { from: string; to: string; proof: string[] };
    expect(verifyCheckpointConsistency(proof, trust())).toMatchObject({ ok: true });
    // and the new export proves the erasure event itself
    const erasure = [...stored.values()].find((e) => e.type === 'PersonalDataErased')!;
    await eventually(async () => {
      await checkpoint();
      const again = (await p.ok('admin', 'GET', `/persons/${c.personId}/export`)) as { receipts: Receipt[] };
      expect(verifyReceipt(again.receipts.find((x) => x.eventId === erasure.id)!, trust(), erasure)).toMatchObject({ ok: true });
    }, 60_000, 500);
    for (const w of ['A', 'B'] as const) expect((await runWitness(w)).code).toBe(0);
  }, 240_000);

  it('a rewritten history: the witness that saw the log refuses, the checkpoint does not become final, the verifier fails', async () => {
    const lastFinal = await p.call('auditor', 'GET', '/audit/log/checkpoint?final=true');
    const finalSize = Number(lastFinal.body.split('\n')[1]);
    // an insider edits an old referral reason and re-hashes its stream: every hash chain still verifies
    const [target] = await p.infra.db.query<{ stream_id: string; global_position: string }>(
      "SELECT stream_id, global_position::text FROM eventstore.events WHERE event_type = 'ReferredToPartner' ORDER BY global_position LIMIT 1",
    );
    await p.infra.db.query(`UPDATE eventstore.events SET data = jsonb_set(data, '{reason}', '"altro"') WHERE global_position = $1`, [target!.global_position]);
    let prev: string | null = null;
    for (const e of await p.infra.store.readStream(target!.stream_id)) {
      const hash = linkHash(prev, e.streamPosition, canonicalEnvelope(e));
      await p.infra.db.query(`UPDATE eventstore.events SET hash = decode($1, 'hex'), prev_hash = decode($2, 'hex') WHERE global_position = $3`, [hash, prev, e.globalPosition]);
      prev = hash;
    }
    expect(await p.infra.store.verifyStream(target!.stream_id)).toMatchObject({ ok: true });
    // ... rebuilds the tree from the altered log, and the log signs what it shows after more traffic
    await p.infra.db.query('DELETE FROM eventstore.merkle_nodes');
    await p.infra.db.query('DELETE FROM eventstore.merkle_leaves');
    (p.infra.store.log as MerkleLog).reload();
    await p.cases.case();
    const forged = await eventually(async () => {
      const c = await checkpoint();
      expect(c.treeSize).toBeGreaterThan(finalSize);
      return c;
    }, 60_000, 500);

    // witness A, which cosigned the last final checkpoint, is offered the rewritten tree: it refuses
    const a = await runWitness('A');
    expect(a.code, shown(a)).toBe(1);
    expect(a.stdout).toContain(`REFUSED checkpoint ${forged.treeSize}: the tree of ${forged.treeSize} leaves does not extend the one of ${finalSize}`);
    expect(existsSync(`${witness.A.state}.refused-${forged.treeSize}.txt`)).toBe(true);
    expect(JSON.parse(readFileSync(witness.A.state, 'utf8')).size).toBe(finalSize);
    // witness B lost its state (a new installation): it trusts the checkpoint on first use, one of the two the policy asks
    rmSync(witness.B.state);
    const b = await runWitness('B');
    expect(b.code, shown(b)).toBe(0);
    expect(b.stdout).not.toContain('it is final');
    const latest = await p.call('auditor', 'GET', '/audit/log/checkpoint');
    expect(latest.headers['onestop-checkpoint-final']).toBe('false');
    expect((await p.call('auditor', 'GET', '/audit/log/checkpoint?final=true')).body).toBe(lastFinal.body);

    // the auditor's verifier: the consistency proof the log now serves does not hold
    const proof = await p.ok('auditor', 'GET', `/audit/log/proofs/consistency?from=${finalSize}&to=${forged.treeSize}`);
    const v = await verifyProof(['--consistency', file('forged.json', proof)]);
    expect(v.code, shown(v)).toBe(1);
    expect(v.stdout).toContain('FAILED: the tree of');
  }, 240_000);
});
