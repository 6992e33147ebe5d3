import type { RawRecordedEvent } from '@onestop/events';
import { toNumber, type SqlDriver } from '../driver.js';
import type { InclusionProof, StoredCheckpoint, SubscribeOptions, Subscription, TreeHead, VerifiableLog } from '../port.js';
import { consistencyProof, frontier, inclusionProof, leafHash, nodeHash, nodesNeeded, rootHash, type NodeAt, type NodeKey } from './tree.js';

// The Merkle tree over the global log, stored in eventstore.merkle_* (see
// schema.sql for the tables and why the tree follows the log instead of being
// built in the append). Shared by the PostgreSQL and PGlite adapters.

interface Frontier extends NodeKey {
  hash: Buffer;
}

interface TreeState {
  size: number;
  /** global position of the last leaf (0: none) */
  lastPosition: number;
  /** the perfect subtrees of the right edge, largest first: where the next leaf goes */
  frontier: Frontier[];
}

interface CheckpointRow {
  tree_size: unknown;
  root_hash: string;
  note: string;
  signed_at: Date | string;
  final_at: Date | string | null;
  cosignatures: { witness: string; line: string }[] | string | null;
}

/** How long the follower lets appends gather before it adds them (ms): the tree's lag, traded for fewer transactions. */
const FOLLOW_COALESCE_MS = 200;

export type FollowOptions = Pick<SubscribeOptions, 'onError' | 'batchSize'> & { coalesceMs?: number };

const iso = (v: Date | string | null) => (v == null ? null : new Date(v).toISOString());

function toCheckpoint(r: CheckpointRow): StoredCheckpoint {
  const cosignatures = (typeof r.cosignatures === 'string' ? JSON.parse(r.cosignatures) : (r.cosignatures ?? [])) as { witness: string; line: string }[];
  return {
    treeSize: toNumber(r.tree_size),
    rootHash: Buffer.from(r.root_hash, 'hex').toString('base64'),
    // the log's note with the cosignature lines after its own
    note: `${r.note}${cosignatures.map((c) => `${c.line}\n`).join('')}`,
    signedAt: iso(r.signed_at)!,
    finalAt: iso(r.final_at),
    cosignedBy: cosignatures.map((c) => c.witness),
  };
}

const CHECKPOINT_COLUMNS = `c.tree_size, encode(c.root_hash, 'hex') AS root_hash, c.note, c.signed_at, c.final_at,
  (SELECT coalesce(json_agg(json_build_object('witness', s.witness, 'line', s.line) ORDER BY s.witness), '[]'::json)
     FROM eventstore.merkle_cosignatures s WHERE s.tree_size = c.tree_size) AS cosignatures`;

/** The RFC 9162 tree of a SQL event store, with its signed checkpoints and witnesses' cosignatures. */
export class MerkleLog implements VerifiableLog {
  private state: TreeState | undefined;
  /** one extension at a time in this process (other processes: the primary keys) */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly driver: SqlDriver,
    private readonly subscribe: (options: SubscribeOptions) => Subscription,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The stored hashes of these perfect subtrees, in one query. */
  private async nodes(keys: readonly NodeKey[]): Promise<Map<string, Buffer>> {
    if (keys.length === 0) return new Map();
    const rows = await this.driver.query<{ level: number; node_index: unknown; hash: string }>(
      // one primary-key probe per node (the LIMIT keeps the planner from turning it into a scan and a hash join)
      `SELECT k.level, k.node_index, encode(n.hash, 'hex') AS hash
         FROM unnest($1::smallint[], $2::bigint[]) AS k(level, node_index)
         CROSS JOIN LATERAL (SELECT m.hash FROM eventstore.merkle_nodes m
                              WHERE m.level = k.level AND m.node_index = k.node_index LIMIT 1) n`,
      [keys.map((k) => k.level), keys.map((k) => k.index)],
      'eventstore_merkle_nodes',
    );
    return new Map(rows.map((r) => [`${r.level}/${toNumber(r.node_index)}`, Buffer.from(r.hash, 'hex')]));
  }

  /** Runs a pure tree computation on the stored subtrees it needs, read in one query. */
  private async compute<T>(fn: (node: NodeAt) => T): Promise<T> {
    const stored = await this.nodes(nodesNeeded(fn));
    return fn((level, index) => {
      const h = stored.get(`${level}/${index}`);
      if (!h) throw new Error(`the Merkle tree has no node ${level}/${index}: is it behind the size asked for?`);
      return h;
    });
  }

  private async load(): Promise<TreeState> {
    const rows = await this.driver.query<{ leaf_index: unknown; global_position: unknown }>(
      'SELECT leaf_index, global_position FROM eventstore.merkle_leaves ORDER BY leaf_index DESC LIMIT 1',
      [],
      'eventstore_merkle_last_leaf',
    );
    if (!rows[0]) return { size: 0, lastPosition: 0, frontier: [] };
    const size = toNumber(rows[0].leaf_index) + 1;
    const keys = frontier(size);
    const stored = await this.nodes(keys);
    return {
      size,
      lastPosition: toNumber(rows[0].global_position),
      frontier: keys.map((k) => ({ ...k, hash: stored.get(`${k.level}/${k.index}`)! })),
    };
  }

  /** Forgets the right edge it holds in memory: the next extension reloads it from the tables (after they were restored or rebuilt). */
  reload(): void {
    this.state = undefined;
  }

  async head(): Promise<TreeHead> {
    const s = await this.load();
    return { size: s.size, lastPosition: s.lastPosition };
  }

  /**
   * Adds these events (the gap-safe log's next ones after the tree's last
   * leaf, in global order: catchUp reads them so) as the next leaves, with every perfect subtree they complete, in one transaction.
   * Events the tree already holds are skipped: a redelivery changes nothing.
   */
  extend(events: readonly Pick<RawRecordedEvent, 'globalPosition' | 'hash'>[]): Promise<TreeHead> {
    return this.serial(() => this.add(events));
  }

  private async add(events: readonly Pick<RawRecordedEvent, 'globalPosition' | 'hash'>[]): Promise<TreeHead> {
    for (let attempt = 0; ; attempt++) {
      const state = (this.state ??= await this.load());
      const fresh = events.filter((e) => e.globalPosition > state.lastPosition);
      if (fresh.length === 0) return { size: state.size, lastPosition: state.lastPosition };
      const edge = [...state.frontier];
      const levels: number[] = [];
      const indexes: number[] = [];
      const hashes: string[] = [];
      const add = (n: Frontier) => {
        levels.push(n.level);
        indexes.push(n.index);
        hashes.push(n.hash.toString('hex'));
        edge.push(n);
      };
      let size = state.size;
      for (const e of fresh) {
        add({ level: 0, index: size, hash: leafHash(Buffer.from(e.hash, 'hex')) });
        while (edge.length >= 2 && edge.at(-1)!.level === edge.at(-2)!.level) {
          const right = edge.pop()!;
          const left = edge.pop()!;
          add({ level: left.level + 1, index: left.index / 2, hash: nodeHash(left.hash, right.hash) });
        }
        size += 1;
      }
      try {
        await this.driver.transaction(async (q) => {
          await q(
            'INSERT INTO eventstore.merkle_leaves (leaf_index, global_position) SELECT * FROM unnest($1::bigint[], $2::bigint[])',
            [fresh.map((_, i) => state.size + i), fresh.map((e) => e.globalPosition)],
          );
          await q(
            `INSERT INTO eventstore.merkle_nodes (level, node_index, hash)
             SELECT l, i, decode(h, 'hex') FROM unnest($1::smallint[], $2::bigint[], $3::text[]) AS t(l, i, h)`,
            [levels, indexes, hashes],
          );
        });
      } catch (e) {
        // another process stored these leaves first: go on from what it stored
        this.state = undefined;
        if ((e as { code?: string }).code === '23505' && attempt < 10) continue;
        throw e;
      }
      this.state = { size, lastPosition: fresh.at(-1)!.globalPosition, frontier: edge };
      return { size, lastPosition: this.state.lastPosition };
    }
  }

  /** Adds every event the gap-safe log shows after the tree's last leaf (reads only positions and hashes). */
  catchUp(batch = 5000): Promise<TreeHead> {
    // read and added under one turn of the queue: the rows read follow the tree's last leaf exactly
    return this.serial(() => this.addFromLog(batch));
  }

  private async addFromLog(batch: number): Promise<TreeHead> {
    for (;;) {
      const { lastPosition } = (this.state ??= await this.load());
      const rows = await this.driver.query<{ global_position: unknown; hash: string }>(
        `SELECT global_position, encode(hash, 'hex') AS hash FROM eventstore.events
          WHERE global_position > $1 AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY global_position LIMIT $2`,
        [lastPosition, batch],
        'eventstore_merkle_catch_up',
      );
      const head = await this.add(rows.map((r) => ({ globalPosition: toNumber(r.global_position), hash: r.hash })));
      if (rows.length < batch) return head;
    }
  }

  /**
   * Follows the global log: the tree grows a batch behind the appends. The
   * subscription only wakes it; each batch is read again from the tree's own
   * last leaf (positions and hashes only), so the leaves stay the log's exact
   * prefix whoever else extended, restored or rebuilt the tree meanwhile.
   */
  async follow({ coalesceMs = FOLLOW_COALESCE_MS, ...options }: FollowOptions = {}): Promise<Subscription> {
    const { lastPosition } = await this.head();
    return this.subscribe({
      ...options,
      from: lastPosition,
      handle: async () => {
        // woken by an append: the appends of the next moment join the same transaction. Under a
        // steady load one transaction per wake-up (a few events) cost the writers a fifth of their rate.
        if (coalesceMs > 0) await new Promise((r) => setTimeout(r, coalesceMs));
        await this.catchUp();
      },
    });
  }

  async rootHash(size: number): Promise<Buffer> {
    await this.mustHold(size);
    return this.compute((node) => rootHash(size, node));
  }

  private async mustHold(size: number): Promise<void> {
    const head = this.state ?? (await this.head());
    if (size > head.size) {
      const fresh = await this.head();
      if (size > fresh.size) throw new RangeError(`the tree has ${fresh.size} leaves, not ${size}`);
    }
  }

  async leafIndexOf(globalPosition: number): Promise<number | undefined> {
    const rows = await this.driver.query<{ leaf_index: unknown }>(
      'SELECT leaf_index FROM eventstore.merkle_leaves WHERE global_position = $1',
      [globalPosition],
      'eventstore_merkle_leaf_of',
    );
    return rows[0] ? toNumber(rows[0].leaf_index) : undefined;
  }

  async locate(eventId: string): Promise<{ globalPosition: number; streamId: string } | undefined> {
    const rows = await this.driver.query<{ global_position: unknown; stream_id: string }>(
      // no gap-safe filter: a position of a committed event is final, whatever commits behind it
      'SELECT global_position, stream_id FROM eventstore.events WHERE event_id = $1::uuid',
      [eventId],
      'eventstore_merkle_locate',
    );
    return rows[0] ? { globalPosition: toNumber(rows[0].global_position), streamId: rows[0].stream_id } : undefined;
  }

  async inclusionProof(globalPosition: number, treeSize: number): Promise<InclusionProof | undefined> {
    const leafIndex = await this.leafIndexOf(globalPosition);
    if (leafIndex === undefined || leafIndex >= treeSize) return undefined;
    await this.mustHold(treeSize);
    const { leaf, proof } = await this.compute((node) => ({ leaf: node(0, leafIndex), proof: inclusionProof(leafIndex, treeSize, node) }));
    return { globalPosition, leafIndex, treeSize, leafHash: leaf.toString('base64'), proof: proof.map((p) => p.toString('base64')) };
  }

  async consistencyProof(first: number, second: number): Promise<string[]> {
    await this.mustHold(second);
    return (await this.compute((node) => consistencyProof(first, second, node))).map((p) => p.toString('base64'));
  }

  async saveCheckpoint(treeSize: number, rootHashB64: string, note: string): Promise<StoredCheckpoint> {
    await this.driver.query(
      `INSERT INTO eventstore.merkle_checkpoints (tree_size, root_hash, note) VALUES ($1, decode($2, 'base64'), $3)
       ON CONFLICT (tree_size) DO NOTHING`,
      [treeSize, rootHashB64, note],
      'eventstore_merkle_save_checkpoint',
    );
    return (await this.checkpoint({ size: treeSize }))!;
  }

  async checkpoint(which: { size?: number; final?: boolean } = {}): Promise<StoredCheckpoint | undefined> {
    const rows = await this.driver.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM eventstore.merkle_checkpoints c
        WHERE ($1::bigint IS NULL OR c.tree_size = $1) AND (NOT $2::boolean OR c.final_at IS NOT NULL)
        ORDER BY c.tree_size DESC LIMIT 1`,
      [which.size ?? null, which.final === true],
      'eventstore_merkle_checkpoint',
    );
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  async checkpointCovering(globalPosition: number, final: boolean): Promise<StoredCheckpoint | undefined> {
    const rows = await this.driver.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM eventstore.merkle_checkpoints c
        WHERE c.tree_size > (SELECT l.leaf_index FROM eventstore.merkle_leaves l WHERE l.global_position = $1)
          AND (NOT $2::boolean OR c.final_at IS NOT NULL)
        ORDER BY c.tree_size DESC LIMIT 1`,
      [globalPosition, final],
      'eventstore_merkle_checkpoint_covering',
    );
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  async addCosignature(treeSize: number, witness: string, line: string, finalWhenCosigners: number): Promise<StoredCheckpoint> {
    await this.driver.transaction(async (q) => {
      await q(
        `INSERT INTO eventstore.merkle_cosignatures (tree_size, witness, line) VALUES ($1, $2, $3)
         ON CONFLICT (tree_size, witness) DO UPDATE SET line = excluded.line, received_at = now()`,
        [treeSize, witness, line],
      );
      // final once the policy is met; it stays final (a witness cannot take its word back)
      await q(
        `UPDATE eventstore.merkle_checkpoints SET final_at = now()
          WHERE tree_size = $1 AND final_at IS NULL
            AND (SELECT count(*) FROM eventstore.merkle_cosignatures WHERE tree_size = $1) >= $2`,
        [treeSize, finalWhenCosigners],
      );
    });
    return (await this.checkpoint({ size: treeSize }))!;
  }

  async markFinal(treeSize: number): Promise<void> {
    await this.driver.query('UPDATE eventstore.merkle_checkpoints SET final_at = now() WHERE tree_size = $1 AND final_at IS NULL', [treeSize]);
  }
}
