import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

// C2SP signed notes (https://c2sp.org/signed-note), checkpoints
// (https://c2sp.org/tlog-checkpoint) and Ed25519 cosignatures
// (https://c2sp.org/tlog-cosignature), with nothing but node:crypto.
//
//   checkpoint body   <origin>\n<tree size>\n<base64 root hash>\n
//   signed note       <body>\n— <key name> <base64(key ID ‖ signature)>\n…
//   key ID            SHA-256(<name> ‖ 0x0A ‖ type ‖ 32-byte public key)[:4]
//                     type 0x01: an Ed25519 note signature (the log's), over the body
//                     type 0x04: an Ed25519 cosignature (a witness's), over
//                     "cosignature/v1\ntime <t>\n" ‖ body, the signature being u64 t ‖ Ed25519
//   vkey              <name>+<hex key ID>+<base64(type ‖ public key)>

export const SIGNATURE_TYPE = { note: 0x01, cosignature: 0x04 } as const;
export type SignatureType = (typeof SIGNATURE_TYPE)[keyof typeof SIGNATURE_TYPE];

/** A checkpoint's body: which log, how many leaves, which root. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** extension lines, as given (none are written here) */
  extensions: string[];
}

export interface NoteSignature {
  name: string;
  keyId: Buffer;
  /** what follows the key ID: an Ed25519 signature, or u64 time ‖ signature for a cosignature */
  signature: Buffer;
  /** the whole line, as it came */
  line: string;
}

export interface SignedNote {
  /** the signed text: every line up to the blank one, each with its newline */
  body: string;
  signatures: NoteSignature[];
}

/** A public key that checks note signatures or cosignatures of one name. */
export interface Verifier {
  name: string;
  type: SignatureType;
  keyId: Buffer;
  publicKey: KeyObject;
}

export class NoteError extends Error {
  override readonly name = 'NoteError';
}

const DASH = '\u2014';
const NAME = /^[^\s+]+$/;

function rawEd25519(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new NoteError(`an Ed25519 key is needed, not ${pub.asymmetricKeyType}`);
  return Buffer.from((pub.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
}

function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4] */
export function keyIdOf(name: string, type: SignatureType, publicKey: KeyObject): Buffer {
  return createHash('sha256').update(name, 'utf8').update(Buffer.from([0x0a, type])).update(rawEd25519(publicKey)).digest().subarray(0, 4);
}

/** The verifier of a key: for the log (note signatures) or a witness (cosignatures). */
export function verifierOf(name: string, type: SignatureType, key: KeyObject): Verifier {
  if (!NAME.test(name)) throw new NoteError(`"${name}" is not a key name (no spaces, no "+")`);
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return { name, type, keyId: keyIdOf(name, type, publicKey), publicKey };
}

/** The vkey text of a verifier: <name>+<hex key ID>+<base64(type ‖ public key)>. */
export function formatVkey(v: Verifier): string {
  return `${v.name}+${v.keyId.toString('hex')}+${Buffer.concat([Buffer.from([v.type]), rawEd25519(v.publicKey)]).toString('base64')}`;
}

/** Parses a vkey; its key ID must be the one its name and key give. */
export function parseVkey(text: string): Verifier {
  const parts = text.trim().split('+');
  // a base64 key may itself hold "+": the name and the key ID come first
  if (parts.length < 3) throw new NoteError('a vkey is <name>+<hex key ID>+<base64 key>');
  const [name, hex] = parts as [string, string];
  const key = Buffer.from(parts.slice(2).join('+'), 'base64');
  if (!/^[0-9a-f]{8}$/.test(hex) || key.length !== 33 || (key[0] !== SIGNATURE_TYPE.note && key[0] !== SIGNATURE_TYPE.cosignature)) {
    throw new NoteError('a vkey of an Ed25519 note signer (type 0x01) or cosigner (type 0x04) is needed');
  }
  const v = verifierOf(name, key[0] as SignatureType, publicKeyFromRaw(key.subarray(1)));
  if (v.keyId.toString('hex') !== hex) throw new NoteError(`the key ID ${hex} of the vkey does not match its name and key`);
  return v;
}

/** The body of a checkpoint. */
export function checkpointBody(origin: string, size: number, rootHash: Uint8Array): string {
  if (!origin || /\n/.test(origin)) throw new NoteError('the origin is one non-empty line');
  if (!Number.isSafeInteger(size) || size < 0) throw new NoteError('the tree size is a whole number ≥ 0');
  if (rootHash.length !== 32) throw new NoteError('the root hash has 32 bytes');
  return `${origin}\n${size}\n${Buffer.from(rootHash).toString('base64')}\n`;
}

/** Parses a checkpoint body (tlog-checkpoint): origin, decimal size without leading zeros, base64 root hash. */
export function parseCheckpoint(body: string): Checkpoint {
  const lines = body.split('\n');
  if (lines.at(-1) !== '' || lines.length < 4) throw new NoteError('a checkpoint body is at least three lines, each ending in a newline');
  const [origin, size, root] = lines as [string, string, string];
  const extensions = lines.slice(3, -1);
  if (!origin) throw new NoteError('the checkpoint has no origin');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) throw new NoteError('the tree size is not a decimal number');
  const rootHash = Buffer.from(root, 'base64');
  if (rootHash.length !== 32 || rootHash.toString('base64') !== root) throw new NoteError('the root hash is not 32 bytes of base64');
  if (extensions.some((e) => e === '')) throw new NoteError('a checkpoint has no empty line in its body');
  return { origin, size: Number(size), rootHash, extensions };
}

/** Splits a signed note into its body and signature lines (signed-note: body, a blank line, "— name base64" lines). */
export function parseNote(text: string): SignedNote {
  if (text.length > 1_000_000) throw new NoteError('the note is too large');
  const cut = text.lastIndexOf('\n\n');
  if (cut < 0 || !text.endsWith('\n')) throw new NoteError('a signed note is a body, a blank line and signature lines, each ending in a newline');
  const body = text.slice(0, cut + 1);
  const lines = text.slice(cut + 2, -1).split('\n');
  const signatures = lines.map((line): NoteSignature => {
    const m = new RegExp(`^${DASH} (\\S+) ([A-Za-z0-9+/]+={0,2})$`).exec(line);
    const raw = m ? Buffer.from(m[2]!, 'base64') : Buffer.alloc(0);
    if (!m || raw.length < 5) throw new NoteError('a signature line is "— <name> <base64(key ID ‖ signature)>"');
    return { name: m[1]!, keyId: raw.subarray(0, 4), signature: raw.subarray(4), line };
  });
  if (signatures.length === 0) throw new NoteError('the note has no signature');
  return { body, signatures };
}

/** The text of a note: its body, the blank line, its signature lines. */
export function formatNote(note: SignedNote): string {
  return `${note.body}\n${note.signatures.map((s) => `${s.line}\n`).join('')}`;
}

const line = (name: string, keyId: Buffer, signature: Buffer) => `${DASH} ${name} ${Buffer.concat([keyId, signature]).toString('base64')}`;

/** Signs a note body (the log's Ed25519 note signature, type 0x01). */
export function signNote(body: string, name: string, privateKey: KeyObject): NoteSignature {
  const keyId = keyIdOf(name, SIGNATURE_TYPE.note, privateKey);
  const signature = sign(null, Buffer.from(body, 'utf8'), privateKey);
  return { name, keyId, signature, line: line(name, keyId, signature) };
}

const cosignedMessage = (body: string, time: bigint) => Buffer.from(`cosignature/v1\ntime ${time}\n${body}`, 'utf8');

/** A witness's cosignature of a checkpoint body (tlog-cosignature, Ed25519, type 0x04) at `time` (POSIX seconds). */
export function cosign(body: string, name: string, privateKey: KeyObject, time: Date): NoteSignature {
  const keyId = keyIdOf(name, SIGNATURE_TYPE.cosignature, privateKey);
  const t = BigInt(Math.floor(time.getTime() / 1000));
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(t);
  const signature = Buffer.concat([ts, sign(null, cosignedMessage(body, t), privateKey)]);
  return { name, keyId, signature, line: line(name, keyId, signature) };
}

/** Whether this signature line is the verifier's and verifies over the body; the cosignature's time when it is one. */
export function verifySignature(body: string, s: Pick<NoteSignature, 'name' | 'keyId' | 'signature'>, v: Verifier): { ok: boolean; time?: Date } {
  if (s.name !== v.name || !s.keyId.equals(v.keyId)) return { ok: false };
  if (v.type === SIGNATURE_TYPE.note) {
    return { ok: s.signature.length === 64 && verify(null, Buffer.from(body, 'utf8'), v.publicKey, s.signature) };
  }
  if (s.signature.length !== 72) return { ok: false };
  const t = s.signature.readBigUInt64BE(0);
  if (t > 2n ** 63n - 1n) return { ok: false };
  const ok = verify(null, cosignedMessage(body, t), v.publicKey, s.signature.subarray(8));
  return ok ? { ok, time: new Date(Number(t) * 1000) } : { ok };
}

/** What a signed checkpoint shows a client that knows the log's key and the witnesses'. */
export interface CheckpointVerification {
  checkpoint: Checkpoint;
  /** the names of the witnesses whose cosignatures verify */
  cosignedBy: string[];
}

/**
 * Parses a signed checkpoint and checks it: the log's signature must verify,
 * and at least `quorum` of the witnesses' cosignatures. Throws NoteError
 * naming what does not hold; signature lines of unknown keys are ignored, as
 * the signed-note spec says.
 */
export function verifyCheckpoint(text: string, log: Verifier, witnesses: readonly Verifier[] = [], quorum = 0): CheckpointVerification {
  const note = parseNote(text);
  const checkpoint = parseCheckpoint(note.body);
  if (checkpoint.origin !== log.name) throw new NoteError(`the checkpoint is of the log "${checkpoint.origin}", not "${log.name}"`);
  if (!note.signatures.some((s) => verifySignature(note.body, s, log).ok)) throw new NoteError(`no valid signature of the log "${log.name}"`);
  const cosignedBy = witnesses.filter((w) => note.signatures.some((s) => verifySignature(note.body, s, w).ok)).map((w) => w.name);
  if (cosignedBy.length < quorum) {
    throw new NoteError(`${cosignedBy.length} of the ${witnesses.length} witnesses cosigned it (${cosignedBy.join(', ') || 'none'}); the policy asks for ${quorum}`);
  }
  return { checkpoint, cosignedBy };
}
