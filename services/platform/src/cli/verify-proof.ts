import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { RawRecordedEvent } from '@onestop/events';
import type { InclusionProof } from '@onestop/eventstore';
import {
  NoteError,
  SIGNATURE_TYPE,
  formatVkey,
  parseVkey,
  verifierOf,
  verifyCheckpointConsistency,
  verifyReceipt,
  verifySignedCheckpoint,
  type TrustPolicy,
  type Verifier,
} from '@onestop/eventstore/merkle';
import { parseSigningKey } from '@onestop/projections';
import type { CliIo } from './context.js';
import { CliError, EXIT, type ExitCode } from './exit.js';
import { WitnessError, witnessRound } from './witness.js';

// The commands of the verifiable log that need no database: the auditor's
// offline verifier, and the witness (a second party's process).

type Values = Record<string, string | boolean | string[] | undefined>;
const line = (io: CliIo, text = '') => io.stdout.write(`${text}\n`);

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${what} ${file}: ${(err as Error).message}`, EXIT.usage);
  }
}

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readText(file, what)) as T;
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${file} is not JSON: ${what} expected`, EXIT.usage);
  }
}

/** A vkey given inline or in a file. */
function vkeyOption(v: string | undefined, option: string, type: number): Verifier {
  if (!v) throw new CliError(`--${option} is needed (a vkey, or a file holding one)`, EXIT.usage);
  const text = existsSync(v) ? readText(v, 'the vkey').trim() : v;
  try {
    const k = parseVkey(text);
    if (k.type !== type) throw new NoteError(`--${option} needs a vkey of type 0x0${type}`);
    return k;
  } catch (e) {
    throw new CliError(`--${option}: ${(e as Error).message}`, EXIT.usage);
  }
}

function trustOf(values: Values): TrustPolicy {
  const witnesses = ((values.witness as string[] | undefined) ?? []).map((w) => vkeyOption(w, 'witness', SIGNATURE_TYPE.cosignature));
  const q = values.quorum as string | undefined;
  if (q !== undefined && !/^\d{1,3}$/.test(q)) throw new CliError(`--quorum must be a whole number, not "${q}"`, EXIT.usage);
  const quorum = q === undefined ? 0 : Number(q);
  if (quorum > witnesses.length) throw new CliError(`--quorum ${quorum} asks more cosignatures than the ${witnesses.length} --witness keys given`, EXIT.usage);
  return { log: vkeyOption(values['log-key'] as string | undefined, 'log-key', SIGNATURE_TYPE.note), witnesses, quorum };
}

// ── verify-proof ────────────────────────────────────────────────────────────
export async function verifyProofCommand(io: CliIo, values: Values): Promise<ExitCode> {
  const trust = trustOf(values);
  const modes = (['checkpoint', 'receipt', 'consistency'] as const).filter((m) => values[m] !== undefined);
  if (modes.length !== 1) throw new CliError('give one of --checkpoint, --receipt or --consistency', EXIT.usage);
  if (values.event !== undefined && modes[0] !== 'receipt') throw new CliError('--event goes with --receipt', EXIT.usage);
  const policy = trust.quorum ? `, cosigned by ${trust.quorum} of ${trust.witnesses!.length} witnesses` : '';

  if (modes[0] === 'checkpoint') {
    const v = verifySignedCheckpoint(readText(values.checkpoint as string, 'the checkpoint'), trust);
    if (!v.ok) return failed(io, v.reason);
    line(io, `OK: checkpoint of ${v.checkpoint.origin} at tree size ${v.checkpoint.size}, signed by the log${policy}${v.cosignedBy.length ? ` (cosigned by ${v.cosignedBy.join(', ')})` : ''}.`);
    return EXIT.ok;
  }
  if (modes[0] === 'receipt') {
    const r = readJson<{ checkpoint?: unknown; inclusionProof?: InclusionProof; receipt?: unknown }>(values.receipt as string, 'a receipt');
    // a referral answer carries it under "receipt"
    const receipt = (r.receipt ?? r) as { checkpoint?: unknown; inclusionProof?: InclusionProof; status?: string; href?: string };
    if (receipt.status === 'pending') throw new CliError(`the receipt is pending: no checkpoint covered the event yet; fetch it from ${receipt.href ?? 'GET /audit/log/receipts/<eventId>'}`, EXIT.usage);
    if (typeof receipt.checkpoint !== 'string' || !receipt.inclusionProof || !Array.isArray(receipt.inclusionProof.proof)) {
      throw new CliError(`${values.receipt as string} is not a receipt ({checkpoint, inclusionProof})`, EXIT.usage);
    }
    const event = values.event ? readJson<RawRecordedEvent>(values.event as string, 'an event') : undefined;
    const v = verifyReceipt({ checkpoint: receipt.checkpoint, inclusionProof: receipt.inclusionProof }, trust, event);
    if (!v.ok) return failed(io, v.reason);
    line(io, `OK: ${event ? `event ${event.id}, its hash recomputed from its content,` : `leaf ${v.leafIndex}`} is in the log ${v.checkpoint.origin} at tree size ${v.checkpoint.size} (leaf ${v.leafIndex})${policy}.`);
    return EXIT.ok;
  }
  const c = readJson<{ from?: unknown; to?: unknown; proof?: unknown }>(values.consistency as string, 'a consistency proof');
  if (typeof c.from !== 'string' || typeof c.to !== 'string' || !Array.isArray(c.proof)) {
    throw new CliError(`${values.consistency as string} is not a consistency proof ({from, to, proof})`, EXIT.usage);
  }
  const v = verifyCheckpointConsistency({ from: c.from, to: c.to, proof: c.proof as string[] }, trust);
  if (!v.ok) return failed(io, v.reason);
  line(io, `OK: the tree of ${v.to.size} leaves extends the tree of ${v.from.size} leaves of ${v.to.origin}: nothing before was changed, removed or reordered${policy}.`);
  return EXIT.ok;
}

function failed(io: CliIo, reason: string): ExitCode {
  line(io, `FAILED: ${reason}`);
  return EXIT.failed;
}

// ── witness ─────────────────────────────────────────────────────────────────
export async function witnessCommand(io: CliIo, values: Values): Promise<ExitCode> {
  for (const o of ['log', 'name', 'key', 'state']) if (typeof values[o] !== 'string') throw new CliError(`--${o} is needed`, EXIT.usage);
  const token = io.env.ONESTOP_WITNESS_TOKEN;
  if (!token) throw new CliError('ONESTOP_WITNESS_TOKEN is needed: the bearer token the log gave this witness (an auditor token)', EXIT.usage);
  let key;
  try {
    key = parseSigningKey(readText(values.key as string, 'the witness key'));
  } catch (e) {
    throw new CliError(`--key: ${(e as Error).message}`, EXIT.usage);
  }
  const options = {
    url: values.log as string,
    token,
    name: values.name as string,
    key,
    log: vkeyOption(values['log-key'] as string | undefined, 'log-key', SIGNATURE_TYPE.note),
    stateFile: values.state as string,
  };
  const interval = values.interval === undefined ? 60_000 : Number(values.interval);
  if (!Number.isInteger(interval) || interval < 100) throw new CliError('--interval is a number of milliseconds ≥ 100', EXIT.usage);
  for (;;) {
    try {
      const r = await witnessRound(options);
      if (r.outcome === 'refused') {
        line(io, `REFUSED checkpoint ${r.size}: ${r.reason}. Not cosigned; the evidence is in ${r.evidence}.`);
        if (values.once) return EXIT.failed;
      } else if (r.outcome === 'unchanged') {
        line(io, `Checkpoint ${r.size}: already cosigned, nothing new.`);
      } else {
        line(io, `COSIGNED checkpoint ${r.size}${r.firstSeen ? ' (the first this witness sees: trusted on first use)' : ', consistent with the last one cosigned'}${r.final ? '; it is final' : ''}.`);
      }
    } catch (e) {
      if (!(e instanceof WitnessError) && !(e instanceof TypeError)) throw e;
      // an unreachable log or a bad answer: nothing is cosigned; the next round tries again
      io.stderr.write(`witness: ${e.message}\n`);
      if (values.once) return EXIT.infrastructure;
    }
    if (values.once) return EXIT.ok;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

export async function witnessKeyCommand(io: CliIo, values: Values, [name]: string[]): Promise<ExitCode> {
  const out = values.out as string | undefined;
  if (!out) throw new CliError('--out <file> is needed: where the private key goes', EXIT.usage);
  const { privateKey } = generateKeyPairSync('ed25519');
  let vkey: string;
  try {
    vkey = formatVkey(verifierOf(name!, SIGNATURE_TYPE.cosignature, privateKey));
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.usage);
  }
  try {
    writeFileSync(out, `${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    throw new CliError(`cannot write the key to ${out}: ${(err as Error).message}`, EXIT.usage);
  }
  line(io, vkey);
  io.stderr.write(`private key written to ${out}; give the vkey above to the log (ONESTOP_WITNESSES)\n`);
  return EXIT.ok;
}
