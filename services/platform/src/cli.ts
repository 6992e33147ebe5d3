// `onestop`: the operations command line of OneStop. It runs on the same
// configuration as the services (the environment, ONESTOP_DATA_DIR), so it
// works on the embedded store of `npm start` as on PostgreSQL.
//
//   npm run onestop -- verify          (or `npx onestop verify` after npm install)
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CliIo } from './cli/context.js';
import { CliError, EXIT, type ExitCode } from './cli/exit.js';

// the commands load the services (a few seconds through tsx): only when one runs
const commands = () => import('./cli/commands.js');

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  summary: string;
  usage: string;
  details?: string[];
  options: Options;
  positionals: string[];
  /** the positionals are checked by the command itself (e.g. `dlq redrive <id>` or `--all`) */
  positionalsChecked?: boolean;
  run(io: CliIo, values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<ExitCode>;
}

const out: Options = { out: { type: 'string', short: 'o' } };

export const COMMANDS: Record<string, Command> = {
  rebuild: {
    summary: 'rebuild the read models from the event store (progress bar; the current ones answer until the swap)',
    usage: 'rebuild',
    options: {},
    positionals: [],
    run: async (io) => (await commands()).rebuild(io),
  },
  verify: {
    summary: 'recompute the hash chain of every stream; exit 1 naming the first broken link of each broken stream',
    usage: 'verify [--json]',
    details: ['also compares the log with the last signed digest: exit 1 with a WARNING when it is empty or holds less (streams missing or behind)'],
    options: { json: { type: 'boolean' } },
    positionals: [],
    run: async (io, v) => (await commands()).verify(io, v),
  },
  digest: {
    summary: 'a signed (Ed25519) digest of every stream head, as JSON',
    usage: 'digest [--position <n>] [--out <file>] [--allow-empty]',
    details: [
      '--position: a global position of the log (default: its head)',
      '--allow-empty: sign a log with no events too (refused otherwise, exit 2); every digest is recorded for `verify` to compare with',
    ],
    options: { position: { type: 'string' }, 'allow-empty': { type: 'boolean' }, ...out },
    positionals: [],
    run: async (io, v) => (await commands()).digest(io, v),
  },
  'verify-digest': {
    summary: 'check a digest offline: its signature; with --against, that two digests agree; with --store, that the store still has its heads',
    usage: 'verify-digest <file> [--public-key <file>] [--against <file>] [--store]',
    details: [
      '--public-key: PEM or JWK (default: the configured signing key)',
      '--against: another digest at the same position (e.g. a fresh one): exit 1 when their heads differ',
      '--store: recompute the hash chain of every stream up to its position from the events of the configured store: exit 1 when a chain is broken or the heads differ',
    ],
    options: { 'public-key': { type: 'string' }, against: { type: 'string' }, store: { type: 'boolean' } },
    positionals: ['file'],
    run: async (io, v, p) => (await commands()).verifyDigestCommand(io, v, p),
  },
  'public-key': {
    summary: 'the public key (PEM) that verifies digests, for auditors who check them offline',
    usage: 'public-key [--vkey] [--out <file>]',
    details: ["--vkey: the verifiable log's verifier key instead (C2SP vkey: origin, key ID, key), for `verify-proof` and witnesses"],
    options: { ...out, vkey: { type: 'boolean' } },
    positionals: [],
    run: async (io, v) => (await commands()).publicKey(io, v),
  },
  checkpoint: {
    summary: 'sign a checkpoint of the verifiable log now (C2SP signed note): the Merkle tree is brought up to the log first',
    usage: 'checkpoint [--out <file>]',
    details: ['the service signs one every ONESTOP_CHECKPOINT_INTERVAL_MS anyway; prints the latest when the tree has not grown'],
    options: out,
    positionals: [],
    run: async (io, v) => (await commands()).checkpointCommand(io, v),
  },
  'inclusion-proof': {
    summary: 'the inclusion proof of an event in a checkpoint (default: the latest), with that checkpoint, as JSON',
    usage: 'inclusion-proof <eventId> [--size <tree size>] [--out <file>]',
    options: { size: { type: 'string' }, ...out },
    positionals: ['eventId'],
    run: async (io, v, p) => (await commands()).inclusionProofCommand(io, v, p),
  },
  'consistency-proof': {
    summary: 'the consistency proof between two checkpoints (by tree size), with both, as JSON',
    usage: 'consistency-proof <from size> <to size> [--out <file>]',
    options: out,
    positionals: ['from', 'to'],
    run: async (io, v, p) => (await commands()).consistencyProofCommand(io, v, p),
  },
  'verify-proof': {
    summary: 'check proofs of the verifiable log offline (no database): checkpoint signatures and cosignatures, a receipt, a consistency proof',
    usage: 'verify-proof --log-key <vkey|file> [--witness <vkey|file>]… [--quorum <n>] (--checkpoint <file> | --receipt <file> [--event <file>] | --consistency <file>)',
    details: [
      "--log-key: the log's vkey (`onestop public-key --vkey`, GET /audit/log/public-key)",
      '--witness, --quorum: witnesses whose cosignatures count, and how many must have cosigned (default 0)',
      '--checkpoint: a signed note (GET /audit/log/checkpoint)',
      '--receipt: a receipt or inclusion proof as JSON ({checkpoint, inclusionProof}: a referral answer, GET /audit/log/receipts/<id>, `onestop inclusion-proof`)',
      '--event: with --receipt, the event as stored (JSON, from a case history): its hash is recomputed from its content',
      '--consistency: {from, to, proof} as JSON (GET /audit/log/proofs/consistency, `onestop consistency-proof`)',
    ],
    options: {
      'log-key': { type: 'string' },
      witness: { type: 'string', multiple: true },
      quorum: { type: 'string' },
      checkpoint: { type: 'string' },
      receipt: { type: 'string' },
      event: { type: 'string' },
      consistency: { type: 'string' },
    },
    positionals: [],
    run: async (io, v) => (await import('./cli/verify-proof.js')).verifyProofCommand(io, v),
  },
  witness: {
    summary: "a witness of another party's log: fetch the latest checkpoint, check it extends the last one cosigned, cosign only then",
    usage: 'witness --log <url> --name <name> --key <file> --log-key <vkey|file> --state <file> [--once] [--interval <ms>]',
    details: [
      '--log: base URL of the log (the projections service); the token is read from $ONESTOP_WITNESS_TOKEN (an auditor token)',
      '--key: the witness private key (`onestop witness-key`); --state: the file that remembers the last cosigned checkpoint',
      '--once: one round; exit 1 when it refuses (a rewritten, shrunk or forked history), keeping the evidence next to the state file',
      '--interval: otherwise a round every <ms> (default 60000) until stopped',
    ],
    options: {
      log: { type: 'string' },
      name: { type: 'string' },
      key: { type: 'string' },
      'log-key': { type: 'string' },
      state: { type: 'string' },
      once: { type: 'boolean' },
      interval: { type: 'string' },
    },
    positionals: [],
    run: async (io, v) => (await import('./cli/verify-proof.js')).witnessCommand(io, v),
  },
  'witness-key': {
    summary: "create a witness's Ed25519 key (file, mode 0600) and print its vkey, for the log's ONESTOP_WITNESSES",
    usage: 'witness-key <name> --out <file>',
    options: out,
    positionals: ['name'],
    run: async (io, v, p) => (await import('./cli/verify-proof.js')).witnessKeyCommand(io, v, p),
  },
  'export-case': {
    summary: "an auditor's full case history as JSON (every stream, as stored); the read is recorded in the case's audit stream",
    usage: 'export-case <personId> [--out <file>] [--as <reader id>]',
    details: ['--as: who reads, recorded with the read (default: $ONESTOP_CLI_READER or cli:<user>)'],
    options: { ...out, as: { type: 'string' } },
    positionals: ['personId'],
    run: async (io, v, p) => (await commands()).exportCase(io, v, p),
  },
  'seed-demo': {
    summary: 'seed the demo network (partners and a dozen people) into an empty store; refused (exit 2) when it is not empty',
    usage: 'seed-demo',
    options: {},
    positionals: [],
    run: async (io) => (await commands()).seedDemoCommand(io),
  },
  'dlq list': {
    summary: 'dead letters, newest first: id, when, consumer group, status, origin, reason (no payload)',
    usage: 'dlq list [--json] [--group <group>] [--limit <n>]',
    details: ['--limit: at most this many (default 100)'],
    options: { json: { type: 'boolean' }, group: { type: 'string' }, limit: { type: 'string' } },
    positionals: [],
    run: async (io, v) => (await commands()).dlqList(io, v),
  },
  'dlq show': {
    summary: 'one dead letter as stored (JSON): reason, headers, key, the value as stored (ids and ciphertext), and every re-drive',
    usage: 'dlq show <id>',
    options: {},
    positionals: ['id'],
    run: async (io, _v, p) => (await commands()).dlqShow(io, p),
  },
  'dlq redrive': {
    summary: 'hand dead letters back to the consumer group they failed in (applied once: handlers are idempotent); each re-drive is recorded',
    usage: 'dlq redrive (<id> | --all [--group <group>]) --reason <text> [--as <who>]',
    details: [
      '--all: every open dead letter (of --group, if given)',
      '--as: who re-drives, recorded with the reason (default: $ONESTOP_CLI_ACTOR or cli:<user>)',
    ],
    options: { all: { type: 'boolean' }, group: { type: 'string' }, reason: { type: 'string' }, as: { type: 'string' } },
    positionals: ['id'],
    positionalsChecked: true,
    run: async (io, v, p) => (await commands()).dlqRedrive(io, v, p),
  },
  token: {
    summary: 'a bearer token for development and tests (refused when NODE_ENV=production), signed with the development secret of npm start',
    usage: 'token --role <role> [--team-role <teamRole>] [--partner <partnerId>] [--sub <subject>] [--ttl <12h>] [--name <text>]',
    details: [
      '--role: operator, team, partner, auditor or admin',
      '--team-role: with --role team: employment_operator, social_worker, educator, tutor or network_manager',
      '--partner: with --role partner: the partnerId whose referrals it sees and answers',
      "--sub: the token's subject (default dev-<role>[-<team role or partner>]); a team member of an assessment is the sub of a token",
      '--ttl: how long it is valid: 90m, 12h (default), 7d … at most 30d',
    ],
    options: { role: { type: 'string' }, 'team-role': { type: 'string' }, partner: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' }, name: { type: 'string' } },
    positionals: [],
    run: async (io, v) => (await import('./cli/token.js')).token(io, v),
  },
  'rotate-keys': {
    summary: "re-wrap every person's data key with the first (new) master key of ONESTOP_MASTER_KEYS (progress bar)",
    usage: 'rotate-keys',
    details: ['set ONESTOP_MASTER_KEYS=new:<base64>,old:<base64>; when it reports 0 remaining, drop the old key'],
    options: {},
    positionals: [],
    run: async (io) => (await commands()).rotateKeys(io),
  },
};

export function helpText(): string {
  return [
    'onestop – operations on a OneStop installation',
    '',
    'Usage: onestop <command> [options]',
    '       npm run onestop -- <command> [options]     (from the repository)',
    '',
    'Commands:',
    ...Object.values(COMMANDS).flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`, ...(c.details ?? []).map((d) => `      ${d}`)]),
    '  help [<command>]',
    '      this text, or the usage of one command',
    '',
    'Configuration: the same environment as the services (ONESTOP_STORE, DATABASE_URL, ONESTOP_DATA_DIR,',
    'ONESTOP_MASTER_KEYS, ONESTOP_AUDIT_SIGNING_KEY, …; see the README). By default the embedded store in',
    './.data, as `npm start` uses it: stop `npm start` first, the embedded database has one process at a time.',
    'Progress goes to stderr (a bar on a terminal, plain lines otherwise); results go to stdout or --out.',
    '',
    'Exit codes:',
    '  0  ok',
    '  1  a verification or check failed (broken hash chain, a log that holds less than its last digest, digest that does not verify or match)',
    '  2  usage error (unknown command or option, bad argument), or refused (e.g. seed-demo on a store that is not empty)',
    '  3  infrastructure or configuration error (database unreachable, invalid variable, …)',
    '',
  ].join('\n');
}

function usageError(message: string, command?: string): CliError {
  const hint = command ? `usage: onestop ${COMMANDS[command]!.usage}` : 'run `onestop --help` for the commands';
  return new CliError(`${message}\n${hint}`, EXIT.usage);
}

/** Runs the CLI on these arguments; resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let [name, ...rest] = argv;
  // `dlq list`, `dlq show`, `dlq redrive`: a command of two words
  if (name === 'dlq' && rest[0] !== undefined && !rest[0].startsWith('-')) [name, rest] = [`dlq ${rest[0]}`, rest.slice(1)];
  try {
    if (name === undefined) {
      io.stderr.write(helpText());
      return EXIT.usage;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const topic = rest[0];
      if (topic && COMMANDS[topic]) {
        const c = COMMANDS[topic];
        io.stdout.write(`usage: onestop ${c.usage}\n\n${c.summary}\n${(c.details ?? []).map((d) => `${d}\n`).join('')}`);
      } else {
        io.stdout.write(helpText());
      }
      return EXIT.ok;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw usageError(`unknown command "${name}"`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`usage: onestop ${command.usage}\n\n${command.summary}\n${(command.details ?? []).map((d) => `${d}\n`).join('')}`);
      return EXIT.ok;
    }
    let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (err) {
      throw usageError((err as Error).message, name);
    }
    if (!command.positionalsChecked && parsed.positionals.length !== command.positionals.length) {
      throw usageError(
        command.positionals.length === 0
          ? `${name} takes no arguments (got "${parsed.positionals.join(' ')}")`
          : `${name} needs ${command.positionals.map((p) => `<${p}>`).join(' ')}`,
        name,
      );
    }
    return await command.run(io, parsed.values, parsed.positionals);
  } catch (err) {
    const [code, message] = classify(err);
    io.stderr.write(`onestop${name && COMMANDS[name] ? ` ${name}` : ''}: ${message}\n`);
    if (code === EXIT.infrastructure && io.env.ONESTOP_CLI_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return code;
  }
}

/** The exit code and message of an error (by shape: the kit and the catalog are not loaded for `--help`). */
function classify(err: unknown): [ExitCode, string] {
  if (err instanceof CliError) return [err.exitCode, err.message];
  const e = err as { name?: unknown; status?: unknown; code?: unknown; message?: unknown } | null;
  // a bad or missing configuration variable (the kit's ConfigError names each)
  if (e?.name === 'ConfigError') return [EXIT.infrastructure, String(e.message)];
  // a domain refusal (OneStopError: a rebuild already running, a position not reached, …)
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && typeof e.code === 'string') return [EXIT.usage, `refused: ${String(e.message)}`];
  const message = err instanceof Error ? err.message || err.name : String(err);
  const code = e?.code;
  return [EXIT.infrastructure, `${message}${typeof code === 'string' && !message.includes(code) ? ` (${code})` : ''} (set ONESTOP_CLI_DEBUG=1 for the stack)`];
}

const self = (path: string | undefined) => {
  try {
    return path !== undefined && realpathSync(path) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};
if (self(process.argv[1])) {
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
  process.exitCode = code;
  // everything is closed by now; should a handle linger, do not hang a script
  setTimeout(() => process.exit(code), 5000).unref();
}
