import { SpanKind } from '@opentelemetry/api';
import { withEventSpans, type RunningConsumer } from '@onestop/bus';
import { ConflictError, RuleViolation, TOPICS, topicForStream } from '@onestop/events';
import type { VerifyResult } from '@onestop/eventstore';
import type { ServiceContext } from '@onestop/kit';
import { CaseHistory } from './audit/case-history.js';
import { Checkpoints } from './audit/checkpoints.js';
import { signHeadsDigest, type StreamHeadsDigest } from './audit/digest.js';
import { SignedDigests } from './audit/signed-digests.js';
import { AuditSigningKey, loadAuditConfig } from './audit/signing-key.js';
import {
  summarise,
  verifyEveryStream,
  verifyStreamPage,
  verifyStreams,
  type StoreVerificationSummary,
  type VerificationProgress,
  type VerificationSummary,
} from './audit/verification.js';
import { ChangeFeed, changedPosition } from './changes/change-feed.js';
import { ReadModels } from './read-models/read-models.js';
import { rebuildReadModels, type RebuildProgress, type RebuildReport } from './read-models/rebuild.js';

/** The consumer group of the read models. */
export const PROJECTIONS_GROUP = 'projections';
/** Every internal topic: the read models and the audit trail cover all streams of every case and the directory. */
/** Partitions the projections consumer applies at once (Kafka bus). */
export const PROJECTIONS_CONCURRENCY = 3;

export const PROJECTED_TOPICS: readonly string[] = [TOPICS.intake, TOPICS.assessment, TOPICS.referral, TOPICS.directory, TOPICS.audit, TOPICS.casework];

export interface ProjectionsOptions {
  /** schema of the live read models (default `projections`) */
  schema?: string;
  /** environment to read ONESTOP_AUDIT_SIGNING_KEY from (default process.env) */
  env?: Record<string, string | undefined>;
  /** a signing key given directly (tests, the CLI) instead of the configuration */
  signingKey?: AuditSigningKey;
  /** events per page when rebuilding */
  rebuildPageSize?: number;
}

export interface RebuildStatus {
  running: boolean;
  progress: RebuildProgress | null;
  last: RebuildReport | null;
  error: string | null;
}

/**
 * The projections service as one object: the live read models and their bus
 * consumer, rebuild on command, and the audit trail (history, as-of,
 * verification, signed digests). The HTTP routes and the CLI both use it.
 */
export class Projections {
  readonly readModels: ReadModels;
  readonly cases: CaseHistory;
  /** every digest signed, kept apart from the log it vouches for */
  readonly signedDigests: SignedDigests;
  /** the verifiable log's signed checkpoints and witnesses' cosignatures */
  readonly checkpoints: Checkpoints;
  /** moves when the live consumer has applied a batch (the console's server-sent events) */
  readonly changes = new ChangeFeed();
  private consumer: RunningConsumer | undefined;
  private running = false;
  private rebuilding: Promise<RebuildReport> | undefined;
  private status: RebuildStatus = { running: false, progress: null, last: null, error: null };
  private key: AuditSigningKey | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly options: ProjectionsOptions = {},
  ) {
    this.readModels = new ReadModels(ctx.db, options.schema ?? 'projections');
    this.cases = new CaseHistory(ctx.store);
    this.signedDigests = new SignedDigests(ctx.db);
    this.key = options.signingKey;
    this.checkpoints = new Checkpoints(ctx.store, ctx.config, () => this.signingKey().privateKey);
  }

  /** Creates the read-model tables (idempotent) and loads the signing key, so a missing key stops the start. */
  async migrate(): Promise<void> {
    this.signingKey();
    await this.readModels.migrate();
    await this.signedDigests.migrate();
  }

  /** Starts the bus consumer that keeps the read models; returns the stop function. */
  async start(): Promise<() => Promise<void>> {
    this.running = true;
    await this.startConsumer();
    // the Merkle tree follows the log here, and checkpoints are signed as it grows
    const stopLog = await this.checkpoints.start(this.ctx.config.ONESTOP_CHECKPOINT_INTERVAL_MS, (e) =>
      this.ctx.logger.warn({ err: e }, 'verifiable log: the tree or a checkpoint could not be brought up to date (retried)'),
    );
    return async () => {
      this.running = false;
      await stopLog();
      await this.rebuilding?.catch(() => undefined);
      await this.stopConsumer();
    };
  }

  /** (Re)starts the consumer; it resumes from the bus checkpoint of its group. */
  async startConsumer(): Promise<void> {
    if (this.consumer) return;
    this.consumer = await this.ctx.bus.consume({
      group: PROJECTIONS_GROUP,
      topics: PROJECTED_TOPICS,
      // the read models take any order across streams and lock a batch's
      // checkpoint rows in stream order: partitions can be applied side by
      // side, so decoding one overlaps the database applying another
      concurrency: PROJECTIONS_CONCURRENCY,
      handle: async (batch) => {
        // a span per traced event for the read models' update: the last hop of a command's trace
        await withEventSpans(
          batch,
          (e) => ({
            name: `project ${e.type}`,
            kind: SpanKind.INTERNAL,
            attributes: { 'onestop.service': 'projections', 'db.operation.name': 'apply_events', 'onestop.event.type': e.type, 'onestop.event.global_position': e.globalPosition },
          }),
          () => this.readModels.apply(batch),
        );
        const changed = changedPosition(batch);
        if (changed !== undefined) this.changes.advance(changed);
      },
    });
  }

  async stopConsumer(): Promise<void> {
    const c = this.consumer;
    this.consumer = undefined;
    await c?.stop();
  }

  /**
   * Rebuilds the read models from the event store into a shadow schema and
   * swaps it in; the old read models answer meanwhile. One at a time.
   */
  rebuild(onProgress?: (p: RebuildProgress) => void | Promise<void>): Promise<RebuildReport> {
    if (this.rebuilding) return Promise.reject(new ConflictError('rebuild_running', 'a rebuild of the read models is already running'));
    this.status = { ...this.status, running: true, progress: null, error: null };
    const run = rebuildReadModels({
      db: this.ctx.db,
      store: this.ctx.store,
      schema: this.readModels.schema,
      topics: PROJECTED_TOPICS,
      ...(this.options.rebuildPageSize ? { pageSize: this.options.rebuildPageSize } : {}),
      pause: async () => {
        const wasConsuming = this.consumer !== undefined;
        await this.stopConsumer();
        return async () => {
          if (wasConsuming && this.running) await this.startConsumer();
        };
      },
      onProgress: async (p) => {
        this.status.progress = p;
        await onProgress?.(p);
      },
    });
    this.rebuilding = run
      .then((report) => {
        this.status = { ...this.status, running: false, last: report };
        this.ctx.logger.info({ ...report }, 'read models rebuilt');
        return report;
      })
      .catch((err: unknown) => {
        this.status = { ...this.status, running: false, error: err instanceof Error ? err.message : String(err) };
        this.ctx.logger.error({ err }, 'rebuild of the read models failed');
        throw err;
      })
      .finally(() => {
        this.rebuilding = undefined;
      });
    return this.rebuilding;
  }

  rebuildStatus(): RebuildStatus {
    return structuredClone(this.status);
  }

  /** Streams of the read-model topics whose newest event the read models have not applied yet. */
  async lag(): Promise<number> {
    const applied = await this.readModels.appliedPositions();
    const heads = await this.ctx.store.streamHeads();
    return heads.filter((h) => topicForStream(h.streamId) && (applied.get(h.streamId) ?? -1) < h.revision).length;
  }

  // ── Audit ─────────────────────────────────────────────────────────────────
  /** Recomputes the hash chain of every stream of the store, and compares the log with the last signed digest. */
  async verifyAll(onProgress?: (p: VerificationProgress) => void | Promise<void>): Promise<StoreVerificationSummary> {
    const lastDigest = await this.signedDigests.last();
    return verifyEveryStream(this.ctx.store, onProgress ? { lastDigest, onProgress } : { lastDigest });
  }

  /** Recomputes the hash chains of one page of streams (in stream-id order, after `after`); compares the log with the last signed digest. */
  async verifyPage(after: string | undefined, limit: number) {
    const lastDigest = await this.signedDigests.last();
    return verifyStreamPage(this.ctx.store, after === undefined ? { limit } : { after, limit }, lastDigest);
  }

  /** Recomputes the hash chains of one case's streams. */
  async verifyCase(personId: string): Promise<VerificationSummary & { results: VerifyResult[] }> {
    await this.cases.mustExist(personId);
    const results = await verifyStreams(this.ctx.store, await this.cases.streamsOf(personId));
    const present = results.filter((r) => r.events > 0);
    return { ...summarise(present), results: present };
  }

  /** The signing key of digests (from the configuration; generated in development). */
  signingKey(): AuditSigningKey {
    // the key comes from the one config loader; loadAuditConfig checks that it is an Ed25519 key
    this.key ??= AuditSigningKey.load(
      this.ctx.config,
      loadAuditConfig({ ONESTOP_AUDIT_SIGNING_KEY: this.options.env?.ONESTOP_AUDIT_SIGNING_KEY ?? this.ctx.config.ONESTOP_AUDIT_SIGNING_KEY }),
    );
    return this.key;
  }

  /**
   * A signed digest of every stream head at a global position (default: the
   * current head), recorded so that later verifications compare with it. An
   * empty log is refused unless `allowEmpty`: a signature over nothing would
   * vouch for a log that lost its events.
   */
  async digest(position?: number, options: { allowEmpty?: boolean } = {}): Promise<StreamHeadsDigest> {
    const head = await this.ctx.store.headPosition();
    const at = position ?? head;
    if (at > head) {
      throw new RuleViolation('position_not_reached', `the log is at position ${head}; a digest at ${at} would not be final`, { headPosition: head });
    }
    const heads = await this.ctx.store.streamHeads(at);
    if (heads.length === 0 && !options.allowEmpty) {
      throw new RuleViolation('empty_log', `the log has no event up to position ${at}: a digest of it would vouch for nothing`, { headPosition: head });
    }
    const digest = signHeadsDigest(heads, at, this.ctx.clock.now(), this.signingKey().privateKey);
    await this.signedDigests.record(digest, heads);
    return digest;
  }
}
