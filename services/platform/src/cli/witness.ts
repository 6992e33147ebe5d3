import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  consistentWith,
  cosign,
  noteBody,
  parseCheckpoint,
  verifySignedCheckpoint,
  type Checkpoint,
  type Verifier,
} from '@onestop/eventstore/merkle';

// A witness of the verifiable log (C2SP tlog-cosignature): a second party,
// say the Region or ARTI, run as a process of its own with its own key and its
// own memory of the last checkpoint it cosigned (a file). Each round it fetches
// the log's latest checkpoint, checks the log's signature, checks that the new
// tree extends the one it saw (a consistency proof it verifies itself), and
// only then cosigns and sends the cosignature. A checkpoint that does not
// extend what it saw (a rewritten, shrunk or forked history) is refused: the
// witness keeps its state and keeps both signed checkpoints as evidence.

export interface WitnessOptions {
  /** base URL of the log's auditors' API (the projections service) */
  url: string;
  /** bearer token of the witness (an auditor token) */
  token: string;
  name: string;
  key: KeyObject;
  /** the log's verifier key */
  log: Verifier;
  /** where the last cosigned checkpoint is kept */
  stateFile: string;
  now?: () => Date;
}

export interface WitnessState {
  origin: string;
  size: number;
  rootHash: string;
  /** the log's signed note the witness cosigned last */
  note: string;
  cosignedAt: string;
}

export type WitnessRound =
  | { outcome: 'cosigned'; size: number; firstSeen: boolean; final: boolean }
  | { outcome: 'unchanged'; size: number }
  | { outcome: 'refused'; size: number; reason: string; evidence: string };

export class WitnessError extends Error {
  override readonly name = 'WitnessError';
}

export function readWitnessState(file: string): WitnessState | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as WitnessState;
  } catch (e) {
    throw new WitnessError(`the witness state ${file} cannot be read (${(e as Error).message}); it is never replaced silently`);
  }
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

async function call(o: WitnessOptions, path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(new URL(path, o.url.endsWith('/') ? o.url : `${o.url}/`), {
    ...init,
    headers: { authorization: `Bearer ${o.token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) },
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new WitnessError(`${init.method ?? 'GET'} ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res;
}

/** One round of the witness: fetch, check, cosign (or refuse). */
export async function witnessRound(o: WitnessOptions): Promise<WitnessRound> {
  const note = await (await call(o, 'audit/log/checkpoint')).text();
  const signed = verifySignedCheckpoint(note, { log: o.log });
  if (!signed.ok) throw new WitnessError(`the latest checkpoint does not verify with the log's key: ${signed.reason}`);
  const cp = signed.checkpoint;
  const state = readWitnessState(o.stateFile);
  if (state) {
    const seen: Checkpoint = parseCheckpoint(noteBody(state.note));
    if (cp.size === seen.size && cp.rootHash.equals(seen.rootHash)) return { outcome: 'unchanged', size: cp.size };
    let proof: string[] = [];
    if (cp.size > seen.size) {
      const body = (await (await call(o, `audit/log/proofs/consistency?from=${seen.size}&to=${cp.size}`)).json()) as { proof?: unknown };
      proof = Array.isArray(body.proof) ? body.proof.filter((p): p is string => typeof p === 'string') : [];
    }
    const verdict = consistentWith(seen, cp, proof);
    if (!verdict.ok) {
      // two checkpoints signed by the log that cannot both be true: kept as evidence
      const evidence = `${o.stateFile}.refused-${cp.size}.txt`;
      writeFileSync(evidence, `${verdict.reason}\n\n-- cosigned before:\n${state.note}\n-- offered now:\n${note}`, { mode: 0o600 });
      return { outcome: 'refused', size: cp.size, reason: verdict.reason, evidence };
    }
  }
  const now = o.now?.() ?? new Date();
  const line = cosign(noteBody(note), o.name, o.key, now).line;
  const stored = (await (await call(o, `audit/log/checkpoints/${cp.size}/cosignatures`, { method: 'POST', body: JSON.stringify({ cosignature: line }) })).json()) as {
    finalAt?: string | null;
  };
  const next: WitnessState = { origin: cp.origin, size: cp.size, rootHash: cp.rootHash.toString('base64'), note, cosignedAt: now.toISOString() };
  writeAtomically(o.stateFile, `${JSON.stringify(next, null, 2)}\n`);
  return { outcome: 'cosigned', size: cp.size, firstSeen: state === null, final: stored.finalAt != null };
}
