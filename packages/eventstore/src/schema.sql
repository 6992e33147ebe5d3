-- OneStop event store: the SQL is the specification.
-- One table holds every event of every stream; one function appends.
-- Shared by the PostgreSQL adapter (pg) and the embedded adapter (PGlite).

CREATE SCHEMA IF NOT EXISTS eventstore;

-- CACHE 1 (the default) matters: a per-session cache would hand out positions
-- out of order and break the gap-safe reading described below.
CREATE SEQUENCE IF NOT EXISTS eventstore.global_position_seq AS bigint CACHE 1;

CREATE TABLE IF NOT EXISTS eventstore.events (
  -- the global log order; also the primary key, so reading the log is an index range scan
  global_position bigint PRIMARY KEY,
  -- the writing transaction; compared with the snapshot xmin for gap-safe reading
  transaction_id  xid8   NOT NULL,
  stream_id       text   NOT NULL,
  stream_position bigint NOT NULL,
  event_id        uuid   NOT NULL,
  event_type      text   NOT NULL,
  schema_version  int    NOT NULL,
  data            jsonb  NOT NULL,
  -- the rest of the envelope: source, time, partitionKey, correlationId, causationId, actor
  metadata        jsonb  NOT NULL,
  prev_hash       bytea,
  hash            bytea  NOT NULL,
  -- optimistic concurrency: two writers cannot both create position n of a stream
  CONSTRAINT events_stream_position_uq UNIQUE (stream_id, stream_position),
  -- idempotent appends: an event id is stored once
  CONSTRAINT events_event_id_uq UNIQUE (event_id)
);

-- Which streams hold events of which partition key (the envelope's
-- partitionKey: a person's id; a partner's for the directory): readCase reads
-- a person's case through it, then each of those streams by its own index.
-- A row is written when a stream gets its first event of a key, so the common
-- append (a stream whose events all share one key, the head's) writes nothing
-- here; an index on a key column of events instead cost every event a fourth
-- B-tree insert (appends about 10% slower, BENCHMARKS.md).
CREATE TABLE IF NOT EXISTS eventstore.stream_keys (
  partition_key text NOT NULL,
  stream_id     text NOT NULL,
  PRIMARY KEY (partition_key, stream_id)
);

-- Stores of older versions (migrate runs this under an advisory lock, in one
-- transaction, so processes starting together do it once): one that has the
-- partition_key column and its index gets their content here, then loses
-- them; one from before them is filled from the envelopes. The table is locked
-- first: an append of a process still on the older version, committed between
-- the fill and the end of the migration, would otherwise leave its new stream
-- out of stream_keys for good (later appends carry the head's key and write no
-- row). The fill reads the whole log once; appends wait for it.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
              WHERE attrelid = 'eventstore.events'::regclass AND attname = 'partition_key' AND NOT attisdropped) THEN
    LOCK TABLE eventstore.events IN ACCESS EXCLUSIVE MODE;
    INSERT INTO eventstore.stream_keys (partition_key, stream_id)
      SELECT DISTINCT metadata->>'partitionKey', stream_id FROM eventstore.events
      ON CONFLICT DO NOTHING;
    DROP INDEX IF EXISTS eventstore.events_partition_key_idx;
    ALTER TABLE eventstore.events DROP COLUMN partition_key;
  ELSIF NOT EXISTS (SELECT 1 FROM eventstore.stream_keys) AND EXISTS (SELECT 1 FROM eventstore.events) THEN
    LOCK TABLE eventstore.events IN ACCESS EXCLUSIVE MODE;
    INSERT INTO eventstore.stream_keys (partition_key, stream_id)
      SELECT DISTINCT metadata->>'partitionKey', stream_id FROM eventstore.events
      ON CONFLICT DO NOTHING;
  END IF;
END
$$;

-- Named checkpoints of subscribers (the relay, embedded consumer groups).
CREATE TABLE IF NOT EXISTS eventstore.checkpoints (
  name       text PRIMARY KEY,
  position   bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- append(stream, expected, events…) → (next_revision, global_positions)
--
-- expected: n >= 0 exact revision, -1 no_stream, -2 any, -3 stream_exists.
-- events:   parallel arrays, one element per event; p_canonical is the
--           canonical envelope text the hash chain covers.
--
-- Idempotent retry: an event id is stored once (events_event_id_uq). A retry
-- of stored events fails on that constraint or on the expected revision, and
-- the client then looks the ids up (replayed_append below) and returns the
-- first result: the check costs nothing on the normal path.
--
-- Gap-safe global order. A subscriber reads events in global_position order,
-- but only those whose transaction_id is below the xmin of its snapshot: every
-- transaction below xmin has finished, so nothing can still appear behind them.
-- That is only sound if positions grow with transaction ids, so both are taken
-- together under a short advisory lock (held for microseconds, not until commit,
-- so commits still overlap). This requires the append to be the first write of
-- its transaction: an earlier write would have taken a transaction id outside
-- the lock, and the function refuses that.
--
-- Wake-ups. p_notify, when given, is sent on the eventstore_appended channel
-- when the append commits: a writer signals listeners of other processes with
-- its append instead of in a statement and a transaction of its own.
DROP FUNCTION IF EXISTS eventstore.append(text, bigint, jsonb);
DROP FUNCTION IF EXISTS eventstore.append(text, bigint, uuid[], text[], int[], jsonb[], jsonb[], text[]);
CREATE OR REPLACE FUNCTION eventstore.append(
  p_stream_id text, p_expected bigint,
  p_ids uuid[], p_types text[], p_versions int[], p_data jsonb[], p_metadata jsonb[], p_canonical text[],
  p_notify text DEFAULT NULL,
  OUT next_revision bigint, OUT global_positions bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  v_count     int := coalesce(cardinality(p_ids), 0);
  v_head      bigint;
  v_head_hash bytea;
  v_head_key  text;
  v_hashes    bytea[] := '{}';
  v_prevs     bytea[] := '{}';
  v_hash      bytea;
  v_canonical text;
  v_i         int := 0;
BEGIN
  IF v_count = 0 THEN
    RAISE EXCEPTION 'nothing to append' USING ERRCODE = '22023';
  END IF;
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'eventstore.append must be the first write of its transaction' USING ERRCODE = '25000';
  END IF;

  SELECT ev.stream_position, ev.hash, ev.metadata->>'partitionKey' INTO v_head, v_head_hash, v_head_key
    FROM eventstore.events ev WHERE ev.stream_id = p_stream_id
    ORDER BY ev.stream_position DESC LIMIT 1;
  v_head := coalesce(v_head, -1);
  IF (p_expected >= -1 AND v_head <> p_expected) OR (p_expected = -3 AND v_head = -1) THEN
    RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'P0409', DETAIL = v_head::text;
  END IF;

  -- The short critical section: transaction id and positions, in the same order.
  PERFORM pg_advisory_lock(7411065);
  PERFORM pg_current_xact_id();
  global_positions := ARRAY(SELECT nextval('eventstore.global_position_seq') FROM generate_series(1, v_count));
  PERFORM pg_advisory_unlock(7411065);

  -- Per-stream hash chain: hash = SHA-256(prev_hash ‖ stream_position ‖ canonical envelope).
  -- (arrays are walked in order, never indexed: indexing an array of
  -- variable-length values costs a scan from its start each time)
  v_hash := v_head_hash;
  FOREACH v_canonical IN ARRAY p_canonical LOOP
    v_i := v_i + 1;
    v_prevs := array_append(v_prevs, v_hash);
    v_hash := sha256(coalesce(v_hash, ''::bytea) || int8send(v_head + v_i) || convert_to(v_canonical, 'UTF8'));
    v_hashes := array_append(v_hashes, v_hash);
  END LOOP;

  INSERT INTO eventstore.events (global_position, transaction_id, stream_id, stream_position, event_id,
                                 event_type, schema_version, data, metadata, prev_hash, hash)
  SELECT t.g, pg_current_xact_id(), p_stream_id, v_head + t.o, t.id, t.type, t.version, t.data, t.meta, t.prev, t.hash
  FROM unnest(global_positions, p_ids, p_types, p_versions, p_data, p_metadata, v_prevs, v_hashes)
       WITH ORDINALITY AS t(g, id, type, version, data, meta, prev, hash, o);

  -- a key the stream's head does not carry may be new to the stream (stream_keys)
  INSERT INTO eventstore.stream_keys (partition_key, stream_id)
  SELECT DISTINCT m->>'partitionKey', p_stream_id FROM unnest(p_metadata) m
   WHERE (m->>'partitionKey') IS DISTINCT FROM v_head_key
  ON CONFLICT DO NOTHING;

  next_revision := v_head + v_count;
  IF p_notify IS NOT NULL THEN
    PERFORM pg_notify('eventstore_appended', p_notify);
  END IF;
END
$$;

-- The first result of an append whose event ids are already stored, if they
-- all are, in this stream; `found` < the number of ids means they are not.
CREATE OR REPLACE FUNCTION eventstore.replayed_append(p_stream_id text, p_ids uuid[])
RETURNS TABLE (found int, in_stream int, next_revision bigint, global_positions bigint[])
LANGUAGE sql STABLE AS $$
  SELECT count(*)::int,
         count(*) FILTER (WHERE ev.stream_id = p_stream_id)::int,
         max(ev.stream_position),
         array_agg(ev.global_position ORDER BY ev.global_position)
    FROM eventstore.events ev WHERE ev.event_id = ANY (p_ids)
$$;

-- append_streams(streams…, expected…, events…) → (next_revisions, global_positions)
--
-- The atomic multi-stream append (DESIGN §9, the reservation pattern): every
-- stream at its expected revision, or nothing at all; one statement, one
-- transaction. append stays the single-stream path (the hot one).
--
-- streams: p_stream_ids and p_expected (codes as in append), one element per
--          stream, each stream once.
-- events:  the parallel arrays of append, plus p_stream_of: the (1-based)
--          index in p_stream_ids of each event's stream. A stream's events
--          come in their order; global positions follow the arrays' order.
--
-- The rules are append's, for every stream at once:
--   * every expected revision is checked before anything is written; the first
--     wrong one raises P0409 with DETAIL '<stream>|<actual revision>' (a stream
--     id never holds a '|');
--   * the transaction id and all positions are taken together under the one
--     short advisory lock (gap-safe reading), so this too must be the first
--     write of its transaction;
--   * each stream's hash chain continues from its own head exactly as append's
--     does, so verifyStream cannot tell which function wrote an event;
--   * a concurrent writer that takes one of the stream positions first makes
--     the insert fail on events_stream_position_uq, and the whole append with
--     it; the client then retries or reports the conflict, as for append.
-- Rows go in in (stream_id, stream_position) order: two appends racing on the
-- same streams wait for each other's rows in one order and cannot deadlock.
CREATE OR REPLACE FUNCTION eventstore.append_streams(
  p_stream_ids text[], p_expected bigint[],
  p_stream_of int[], p_ids uuid[], p_types text[], p_versions int[], p_data jsonb[], p_metadata jsonb[], p_canonical text[],
  p_notify text DEFAULT NULL,
  OUT next_revisions bigint[], OUT global_positions bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  v_streams   int := coalesce(cardinality(p_stream_ids), 0);
  v_count     int := coalesce(cardinality(p_ids), 0);
  v_chain     bytea[] := '{}';   -- per stream: the hash of its last event so far
  v_head      bigint;
  v_head_hash bytea;
  v_head_key  text;
  v_head_keys text[] := '{}';    -- per stream: the partition key of its head
  v_positions bigint[] := '{}';
  v_hashes    bytea[] := '{}';
  v_prevs     bytea[] := '{}';
  v_hash      bytea;
  v_canonical text;
  v_k         int;
  v_i         int := 0;
BEGIN
  IF v_count = 0 OR v_streams = 0 THEN
    RAISE EXCEPTION 'nothing to append' USING ERRCODE = '22023';
  END IF;
  IF coalesce(cardinality(p_expected), 0) <> v_streams OR coalesce(cardinality(p_stream_of), 0) <> v_count
     OR EXISTS (SELECT 1 FROM unnest(p_stream_of) k WHERE k IS NULL OR k < 1 OR k > v_streams) THEN
    RAISE EXCEPTION 'streams and events do not line up' USING ERRCODE = '22023';
  END IF;
  IF (SELECT count(DISTINCT s) FROM unnest(p_stream_ids) s) <> v_streams THEN
    RAISE EXCEPTION 'a stream appears twice in one append' USING ERRCODE = '22023';
  END IF;
  IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
    RAISE EXCEPTION 'eventstore.append_streams must be the first write of its transaction' USING ERRCODE = '25000';
  END IF;

  -- every stream's head and expected revision first: a conflict writes nothing
  next_revisions := '{}';
  FOR v_k IN 1 .. v_streams LOOP
    SELECT ev.stream_position, ev.hash, ev.metadata->>'partitionKey' INTO v_head, v_head_hash, v_head_key
      FROM eventstore.events ev WHERE ev.stream_id = p_stream_ids[v_k]
      ORDER BY ev.stream_position DESC LIMIT 1;
    v_head := coalesce(v_head, -1);
    IF (p_expected[v_k] >= -1 AND v_head <> p_expected[v_k]) OR (p_expected[v_k] = -3 AND v_head = -1) THEN
      RAISE EXCEPTION 'wrong expected version' USING ERRCODE = 'P0409', DETAIL = p_stream_ids[v_k] || '|' || v_head::text;
    END IF;
    next_revisions := array_append(next_revisions, v_head);
    v_chain := array_append(v_chain, v_head_hash);
    v_head_keys := array_append(v_head_keys, v_head_key);
  END LOOP;

  -- The short critical section: transaction id and positions, in the same order.
  PERFORM pg_advisory_lock(7411065);
  PERFORM pg_current_xact_id();
  global_positions := ARRAY(SELECT nextval('eventstore.global_position_seq') FROM generate_series(1, v_count));
  PERFORM pg_advisory_unlock(7411065);

  -- Per-stream hash chains, each from its own head, as append computes them.
  -- (the canonical texts are walked in order, never indexed; the per-stream
  -- arrays are indexed, but hold one element per stream)
  FOREACH v_canonical IN ARRAY p_canonical LOOP
    v_i := v_i + 1;
    v_k := p_stream_of[v_i];
    v_hash := v_chain[v_k];
    next_revisions[v_k] := next_revisions[v_k] + 1;
    v_prevs := array_append(v_prevs, v_hash);
    v_hash := sha256(coalesce(v_hash, ''::bytea) || int8send(next_revisions[v_k]) || convert_to(v_canonical, 'UTF8'));
    v_hashes := array_append(v_hashes, v_hash);
    v_positions := array_append(v_positions, next_revisions[v_k]);
    v_chain[v_k] := v_hash;
  END LOOP;

  INSERT INTO eventstore.events (global_position, transaction_id, stream_id, stream_position, event_id,
                                 event_type, schema_version, data, metadata, prev_hash, hash)
  SELECT t.g, pg_current_xact_id(), p_stream_ids[t.k], t.pos, t.id, t.type, t.version, t.data, t.meta, t.prev, t.hash
  FROM unnest(global_positions, p_stream_of, v_positions, p_ids, p_types, p_versions, p_data, p_metadata, v_prevs, v_hashes)
       AS t(g, k, pos, id, type, version, data, meta, prev, hash)
  ORDER BY p_stream_ids[t.k], t.pos;

  -- as in append: keys a stream's head does not carry may be new to it
  INSERT INTO eventstore.stream_keys (partition_key, stream_id)
  SELECT DISTINCT t.m->>'partitionKey', p_stream_ids[t.k] FROM unnest(p_metadata, p_stream_of) AS t(m, k)
   WHERE (t.m->>'partitionKey') IS DISTINCT FROM v_head_keys[t.k]
   ORDER BY 1, 2
  ON CONFLICT DO NOTHING;

  IF p_notify IS NOT NULL THEN
    PERFORM pg_notify('eventstore_appended', p_notify);
  END IF;
END
$$;

-- repair_restored_log() → (rows_repaired, sequence_moved_to): run by every
-- start-up (migrate), under the migration lock.
--
-- A logical copy keeps transaction ids that mean nothing here. transaction_id
-- is only meaningful in the cluster that wrote it. pg_dump/pg_restore or
-- logical replication into another cluster copies the column's values but not
-- the cluster's transaction counter; where the new counter is lower, the
-- copied ids lie in this cluster's future, never below a snapshot's xmin, and
-- every gap-safe read hides those events for good (a restore of 459 events
-- showed 0, and verification then "succeeded" on an empty log).
--
-- Detecting them. Every id this cluster handed out is below
-- pg_snapshot_xmax(pg_current_snapshot()) (the next id to hand out), so a row
-- at or above it was written elsewhere. Ids and positions grow together (the
-- append's short lock), so such rows are the tail of the log: the normal path
-- looks at the row with the highest position only, one index probe.
--
-- Repairing them safely. The tail gets the transaction id of the row just
-- before it (2, the frozen id, when there is none):
--   * every row this transaction sees is committed (the restore or the
--     replication wrote and committed it), so no running transaction can still
--     add anything behind the tail: it needs no xmin guard of its own;
--   * the id is a past one of this cluster, below the xmin of every snapshot
--     to come, so the tail becomes visible;
--   * and no sooner than the row before it: visibility still grows with the
--     position, and a reader never sees a later event before an earlier one;
--   * appends from now on take this cluster's ids, above the repaired ones, and
--     positions after the log's head: the sequence is moved past the head if it
--     is behind (logical replication does not copy sequences).
-- It must run before anything appends or reads in the new cluster, and after
-- the restore has committed: createPostgresEventStore migrates before it
-- returns; start OneStop only once pg_restore has finished.
CREATE OR REPLACE FUNCTION eventstore.repair_restored_log(OUT rows_repaired bigint, OUT sequence_moved_to bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_xmax     xid8 := pg_snapshot_xmax(pg_current_snapshot());
  v_head     bigint;
  v_head_xid xid8;
  v_tail     bigint;
  v_before   xid8;
  v_seq      record;
BEGIN
  rows_repaired := 0;
  SELECT ev.global_position, ev.transaction_id INTO v_head, v_head_xid
    FROM eventstore.events ev ORDER BY ev.global_position DESC LIMIT 1;
  IF v_head IS NULL THEN
    RETURN;
  END IF;

  IF v_head_xid >= v_xmax THEN
    -- the one scan, once after a restore: where the copied tail begins
    SELECT min(ev.global_position) INTO v_tail FROM eventstore.events ev WHERE ev.transaction_id >= v_xmax;
    SELECT ev.transaction_id INTO v_before
      FROM eventstore.events ev WHERE ev.global_position < v_tail ORDER BY ev.global_position DESC LIMIT 1;
    UPDATE eventstore.events ev SET transaction_id = coalesce(v_before, '2'::xid8)
     WHERE ev.global_position >= v_tail;
    GET DIAGNOSTICS rows_repaired = ROW_COUNT;
  END IF;

  SELECT last_value, is_called INTO v_seq FROM eventstore.global_position_seq;
  IF v_seq.last_value < v_head OR (v_seq.last_value = v_head AND NOT v_seq.is_called) THEN
    sequence_moved_to := setval('eventstore.global_position_seq', v_head);
  END IF;
END
$$;

-- The verifiable log: an RFC 9162 Merkle tree over the global log.
--
-- Leaf i is the event of rank i in global order (global_position has gaps:
-- a rolled-back append burns its sequence values), so the leaf index is kept
-- explicitly. leaf hash = SHA-256(0x00 ‖ events.hash), node = SHA-256(0x01 ‖ l ‖ r).
--
-- Not in the append path: a follower of the gap-safe global log (MerkleLog in
-- merkle/sql-tree.ts) adds the leaves in order, with every perfect subtree they
-- complete, in one transaction per batch. Two followers racing on the same
-- leaves collide on the primary keys; the loser reloads and goes on from what
-- the winner stored (the keys are the expected revision, no lock is taken).
-- An append therefore costs nothing more; the tree is a few batches behind.
CREATE TABLE IF NOT EXISTS eventstore.merkle_leaves (
  leaf_index      bigint PRIMARY KEY,
  global_position bigint NOT NULL UNIQUE
);

-- The hash of every perfect subtree: 2^level leaves from leaf node_index × 2^level
-- (level 0: the leaf hashes). Any MTH(D[a:b]) a proof needs is one of them or
-- the node of at most log2(n) of them, so a proof reads O(log n) rows, in one query.
CREATE TABLE IF NOT EXISTS eventstore.merkle_nodes (
  level      smallint NOT NULL,
  node_index bigint   NOT NULL,
  hash       bytea    NOT NULL,
  PRIMARY KEY (level, node_index)
);

-- Signed checkpoints (C2SP tlog-checkpoint): the note as the log signed it.
-- Ed25519 is deterministic, so two processes signing the same size store the
-- same note; the first one stays. final_at: when the witness policy was met.
CREATE TABLE IF NOT EXISTS eventstore.merkle_checkpoints (
  tree_size bigint PRIMARY KEY,
  root_hash bytea NOT NULL,
  note      text NOT NULL,
  signed_at timestamptz NOT NULL DEFAULT now(),
  final_at  timestamptz
);

-- Witnesses' cosignatures (C2SP tlog-cosignature lines), checked before they are stored.
CREATE TABLE IF NOT EXISTS eventstore.merkle_cosignatures (
  tree_size   bigint NOT NULL REFERENCES eventstore.merkle_checkpoints (tree_size),
  witness     text NOT NULL,
  line        text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tree_size, witness)
);
