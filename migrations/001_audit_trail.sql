-- The audit trail: every kubemend event, once, in the order it was ingested,
-- append-only and hash-chained. See docs/audit.md for the model and
-- docs/sql-recipes.md for queries.
--
-- Applied by kubemend-audit (or `kubemend-audit migrate`) as the owner of the
-- schema. The owner needs CREATEROLE the first time (or a DBA creates the two
-- roles beforehand; they are looked up, not recreated).

-- ------------------------------------------------------------------ roles
-- Roles are cluster-wide: create them only when missing. Two databases
-- migrating at once can race on the catalog, hence the exception handler.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kubemend_writer') THEN
    BEGIN
      CREATE ROLE kubemend_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kubemend_reader') THEN
    BEGIN
      CREATE ROLE kubemend_reader NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  -- The service writes as kubemend_writer (SET ROLE) and serves reads as
  -- kubemend_reader, so its own login must be able to become them.
  IF NOT pg_has_role(current_user, 'kubemend_writer', 'MEMBER') THEN
    EXECUTE format('GRANT kubemend_writer TO %I', current_user);
  END IF;
  IF NOT pg_has_role(current_user, 'kubemend_reader', 'MEMBER') THEN
    EXECUTE format('GRANT kubemend_reader TO %I', current_user);
  END IF;
END
$roles$;

-- ------------------------------------------------------------------ the trail
-- Partitioned by month of ingested_at. ingested_at never goes backwards along
-- seq (the writer takes max(now, last ingested_at)), so every partition holds
-- one contiguous stretch of the chain and retention prunes a prefix.
CREATE TABLE audit_events (
  seq               bigint      NOT NULL,   -- position in the chain, 1, 2, 3, ... no gaps
  event_id          uuid        NOT NULL,
  event_type        text        NOT NULL,
  occurred_at       timestamptz NOT NULL,
  recorded_at       timestamptz NOT NULL,
  ingested_at       timestamptz NOT NULL,
  producer_service  text        NOT NULL,
  producer_instance text        NOT NULL,
  incident_id       text        NOT NULL DEFAULT '',
  causation_id      text        NOT NULL DEFAULT '',
  trace_id          text        NOT NULL DEFAULT '',
  target_cluster    text        NOT NULL DEFAULT '',
  target_namespace  text        NOT NULL DEFAULT '',
  target_kind       text        NOT NULL DEFAULT '',
  target_name       text        NOT NULL DEFAULT '',
  target_container  text        NOT NULL DEFAULT '',
  signal_name       text        NOT NULL DEFAULT '',
  action_type       text        NOT NULL DEFAULT '',
  verdict           text        NOT NULL DEFAULT '',
  rule              text        NOT NULL DEFAULT '',
  outcome_status    text        NOT NULL DEFAULT '',
  policy_name       text        NOT NULL DEFAULT '',
  kafka_topic       text        NOT NULL,
  kafka_partition   integer     NOT NULL,
  kafka_offset      bigint      NOT NULL,
  payload           bytea       NOT NULL,   -- the original Protobuf bytes (hashed)
  payload_json      jsonb       NOT NULL,   -- the same event as JSON (derived from payload)
  prev_hash         bytea       NOT NULL,   -- row_hash of seq-1 (32 zero bytes for seq 1)
  row_hash          bytea       NOT NULL,   -- sha256(audit_row_canonical(row))
  PRIMARY KEY (seq, ingested_at)
) PARTITION BY RANGE (ingested_at);
CREATE INDEX audit_events_event_id ON audit_events (event_id);
CREATE INDEX audit_events_incident ON audit_events (incident_id, seq);
CREATE INDEX audit_events_target ON audit_events (target_namespace, target_kind, target_name, occurred_at);
CREATE INDEX audit_events_type_time ON audit_events (event_type, occurred_at);
CREATE INDEX audit_events_causation ON audit_events (causation_id);

-- Dedup lives here: a unique key on the partitioned table would have to
-- include ingested_at, which a redelivery does not share with the original.
CREATE TABLE audit_event_ids (
  event_id uuid PRIMARY KEY
);

-- Where the chain continues after old partitions were detached: the last
-- (seq, row_hash) of the pruned prefix. Written by audit_detach_partition().
CREATE TABLE audit_chain_anchors (
  seq            bigint      PRIMARY KEY,
  row_hash       bytea       NOT NULL,
  partition_name text        NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now()
);

-- Messages no service could process, with why. Idempotent on their Kafka
-- coordinates. Append-only like the trail, but not part of the hash chain.
CREATE TABLE dead_letters (
  id               bigserial,
  source_topic     text        NOT NULL,
  source_partition integer     NOT NULL,
  source_offset    bigint      NOT NULL,
  consumer         text        NOT NULL,
  reason           text        NOT NULL,
  message_key      bytea       NOT NULL,
  payload          bytea       NOT NULL,
  dead_lettered_at timestamptz NOT NULL,
  ingested_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source_topic, source_partition, source_offset, consumer)
);

-- ------------------------------------------------------------------ append-only
CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'retention detaches whole partitions: see docs/audit.md';
END
$fn$;

-- Row triggers on a partitioned table are cloned onto every partition;
-- TRUNCATE triggers are not, so audit_ensure_partitions adds one to each.
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_event_ids_append_only BEFORE UPDATE OR DELETE ON audit_event_ids
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_event_ids_no_truncate BEFORE TRUNCATE ON audit_event_ids
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_chain_anchors_append_only BEFORE UPDATE OR DELETE ON audit_chain_anchors
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_chain_anchors_no_truncate BEFORE TRUNCATE ON audit_chain_anchors
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER dead_letters_append_only BEFORE UPDATE OR DELETE ON dead_letters
  FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER dead_letters_no_truncate BEFORE TRUNCATE ON dead_letters
  FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

-- ------------------------------------------------------------------ partitions
-- Creates the monthly partitions (UTC) for `at` and `months_ahead` months
-- after it. SECURITY DEFINER so that the writer role, which may not create
-- tables, can still keep partitions ahead of the clock.
CREATE FUNCTION audit_ensure_partitions(at timestamptz, months_ahead integer DEFAULT 2)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
DECLARE
  m timestamp;
  part text;
  made integer := 0;
BEGIN
  FOR i IN 0..months_ahead LOOP
    m := date_trunc('month', at AT TIME ZONE 'UTC') + make_interval(months => i);
    part := 'audit_events_' || to_char(m, 'YYYY_MM');
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
                     part, (m AT TIME ZONE 'UTC'), ((m + interval '1 month') AT TIME ZONE 'UTC'));
      EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
                     'FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()', part);
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END
$fn$;

-- Retention: records where the chain continues, then detaches the partition
-- (which stays a plain table to archive with pg_dump and drop). Only the
-- oldest attached partition may go, so the chain loses a prefix, never a
-- middle. Run as the owner.
CREATE FUNCTION audit_detach_partition(part regclass) RETURNS bigint
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
  oldest regclass;
  last_seq bigint;
  last_hash bytea;
BEGIN
  SELECT c.oid::regclass INTO oldest
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'audit_events'::regclass
   ORDER BY pg_get_expr(c.relpartbound, c.oid) LIMIT 1;
  IF oldest IS DISTINCT FROM part THEN
    RAISE EXCEPTION 'only the oldest partition (%) may be detached, not %', oldest, part;
  END IF;
  EXECUTE format('SELECT seq, row_hash FROM %s ORDER BY seq DESC LIMIT 1', part)
    INTO last_seq, last_hash;
  IF last_seq IS NOT NULL THEN
    INSERT INTO audit_chain_anchors (seq, row_hash, partition_name)
    VALUES (last_seq, last_hash, part::text);
  END IF;
  EXECUTE format('ALTER TABLE audit_events DETACH PARTITION %s', part);
  RETURN last_seq;
END
$fn$;

-- ------------------------------------------------------------------ hash chain
-- The canonical content of a row, byte for byte what the writer hashes in
-- C++ (services/audit/src/chain.cc): integers big-endian, timestamps as
-- microseconds since the epoch, text and bytea as a 4-byte length plus bytes.
-- payload_json is not hashed: it is derived from payload, which is.
CREATE FUNCTION audit_lp(b bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
  $fn$ SELECT int4send(octet_length(b)) || b $fn$;
CREATE FUNCTION audit_lpt(t text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
  $fn$ SELECT int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') $fn$;
CREATE FUNCTION audit_us(t timestamptz) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS
  $fn$ SELECT int8send((extract(epoch FROM t) * 1000000)::bigint) $fn$;

CREATE FUNCTION audit_row_canonical(r audit_events) RETURNS bytea LANGUAGE sql STABLE AS $fn$
  SELECT int8send(r.seq) || audit_lp(r.prev_hash) || audit_lpt(r.event_id::text)
      || audit_lpt(r.event_type) || audit_us(r.occurred_at) || audit_us(r.recorded_at)
      || audit_us(r.ingested_at) || audit_lpt(r.producer_service)
      || audit_lpt(r.producer_instance) || audit_lpt(r.incident_id) || audit_lpt(r.causation_id)
      || audit_lpt(r.trace_id) || audit_lpt(r.target_cluster) || audit_lpt(r.target_namespace)
      || audit_lpt(r.target_kind) || audit_lpt(r.target_name) || audit_lpt(r.target_container)
      || audit_lpt(r.signal_name) || audit_lpt(r.action_type) || audit_lpt(r.verdict)
      || audit_lpt(r.rule) || audit_lpt(r.outcome_status) || audit_lpt(r.policy_name)
      || audit_lpt(r.kafka_topic) || int4send(r.kafka_partition) || int8send(r.kafka_offset)
      || audit_lp(r.payload)
$fn$;

-- Walks the chain in seq order from the start (seq 1, or the newest anchor
-- when a prefix was pruned) and returns one row: ok, how many rows were
-- checked, and for the first row that does not match its seq, event id and
-- what is wrong. head_seq/head_hash name the last good row (record them out
-- of band to catch a rewrite of the whole suffix).
CREATE FUNCTION audit_verify_chain()
RETURNS TABLE (ok boolean, checked bigint, bad_seq bigint, bad_event_id uuid, problem text,
               head_seq bigint, head_hash text)
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
DECLARE
  r audit_events;
  expect_seq bigint;
  expect_prev bytea;
  n bigint := 0;
BEGIN
  FOR r IN SELECT * FROM audit_events ORDER BY seq LOOP
    IF expect_seq IS NULL THEN
      IF r.seq = 1 THEN
        expect_prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
      ELSE
        SELECT a.row_hash INTO expect_prev FROM audit_chain_anchors a WHERE a.seq = r.seq - 1;
        IF NOT FOUND THEN
          RETURN QUERY SELECT false, n, r.seq, r.event_id,
            format('the chain starts at seq %s but no anchor records seq %s (rows deleted?)',
                   r.seq, r.seq - 1), NULL::bigint, NULL::text;
          RETURN;
        END IF;
      END IF;
      expect_seq := r.seq;
    END IF;
    IF r.seq <> expect_seq THEN
      RETURN QUERY SELECT false, n, r.seq, r.event_id,
        format('seq %s follows seq %s: rows %s..%s are missing', r.seq, expect_seq - 1,
               expect_seq, r.seq - 1), expect_seq - 1, encode(expect_prev, 'hex');
      RETURN;
    END IF;
    IF r.prev_hash <> expect_prev THEN
      RETURN QUERY SELECT false, n, r.seq, r.event_id,
        'prev_hash does not match the row_hash of the row before'::text, r.seq - 1,
        encode(expect_prev, 'hex');
      RETURN;
    END IF;
    IF sha256(audit_row_canonical(r)) <> r.row_hash THEN
      RETURN QUERY SELECT false, n, r.seq, r.event_id,
        'content does not match row_hash (the row was altered)'::text, r.seq - 1,
        encode(expect_prev, 'hex');
      RETURN;
    END IF;
    n := n + 1;
    expect_seq := r.seq + 1;
    expect_prev := r.row_hash;
  END LOOP;
  RETURN QUERY SELECT true, n, NULL::bigint, NULL::uuid, NULL::text,
    CASE WHEN expect_seq IS NULL THEN NULL ELSE expect_seq - 1 END, encode(expect_prev, 'hex');
END
$fn$;

-- ------------------------------------------------------------------ views
-- One row per incident.
CREATE VIEW incidents AS
WITH per AS (
  SELECT incident_id,
         min(occurred_at) AS first_seen,
         max(occurred_at) AS last_seen,
         (array_agg(target_namespace ORDER BY seq))[1] AS target_namespace,
         (array_agg(target_kind ORDER BY seq))[1] AS target_kind,
         (array_agg(target_name ORDER BY seq))[1] AS target_name,
         array_agg(DISTINCT signal_name) FILTER (WHERE event_type = 'signal') AS signals,
         (array_agg(payload_json->'signal'->>'status' ORDER BY seq DESC)
            FILTER (WHERE event_type = 'signal'))[1] AS last_signal_status,
         (array_agg(action_type ORDER BY seq DESC) FILTER (WHERE action_type <> ''))[1] AS last_action,
         (array_agg(verdict ORDER BY seq DESC) FILTER (WHERE verdict <> ''))[1] AS verdict,
         (array_agg(outcome_status ORDER BY seq DESC) FILTER (WHERE outcome_status <> ''))[1] AS outcome,
         bool_or(event_type = 'proposal') AS proposed,
         count(*) AS events,
         max(seq) AS last_seq
    FROM audit_events
   WHERE incident_id <> ''
   GROUP BY incident_id)
SELECT incident_id, first_seen, last_seen, target_namespace, target_kind, target_name,
       coalesce(signals, '{}') AS signals, last_action, verdict, outcome,
       CASE
         WHEN outcome IN ('succeeded', 'duplicate') THEN 'resolved'
         WHEN outcome = 'dry_run' THEN 'dry_run'
         WHEN outcome IN ('failed', 'not_fixed') THEN 'failed'
         WHEN outcome = 'rolled_back' THEN 'rolled_back'
         WHEN outcome = 'skipped' THEN 'skipped'
         WHEN verdict = 'rejected' THEN 'rejected'
         WHEN verdict = 'awaiting_approval' THEN 'awaiting_approval'
         WHEN verdict = 'expired' THEN 'expired'
         WHEN verdict = 'approved' THEN 'in_progress'
         WHEN proposed THEN 'proposed'
         WHEN last_signal_status = 'SIGNAL_STATUS_RESOLVED' THEN 'resolved'
         ELSE 'open'
       END AS status,
       events, last_seq
  FROM per;

CREATE VIEW incident_timeline AS
SELECT incident_id, seq, occurred_at, ingested_at, event_type, producer_service,
       target_namespace, target_kind, target_name,
       CASE event_type
         WHEN 'signal' THEN signal_name || coalesce(' ' || lower(replace(
              payload_json->'signal'->>'status', 'SIGNAL_STATUS_', '')), '')
         WHEN 'proposal' THEN action_type || ' (policy ' || policy_name || ')'
         WHEN 'decision' THEN verdict || ' ' || action_type || ' by ' || rule
         WHEN 'outcome' THEN action_type || ' ' || outcome_status
         ELSE coalesce(payload_json->'control'->>'reason', '')
       END AS summary,
       coalesce(payload_json->'proposal'->>'reason', payload_json->'decision'->>'reason',
                payload_json->'outcome'->>'error', payload_json->'signal'->>'summary', '') AS detail,
       event_id, causation_id
  FROM audit_events
 WHERE incident_id <> '';

-- One row per executed (or attempted) action, with what changed, who
-- approved it and why, and how it ended.
CREATE VIEW actions AS
SELECT o.seq, o.occurred_at, o.incident_id,
       o.payload_json->'outcome'->>'action_id' AS action_id,
       o.target_cluster, o.target_namespace, o.target_kind, o.target_name,
       o.action_type, o.outcome_status AS outcome,
       d.verdict, d.rule,
       coalesce(d.payload_json->'decision'->>'approver', '') AS approver,
       coalesce(d.payload_json->'decision'->>'reason', '') AS reason,
       coalesce(o.payload_json->'outcome'->'changes', '[]'::jsonb) AS changes,
       (SELECT string_agg(c->>'path' || ': ' || coalesce(c->>'before', '') || ' -> '
                          || coalesce(c->>'after', ''), '; ')
          FROM jsonb_array_elements(coalesce(o.payload_json->'outcome'->'changes', '[]'::jsonb)) c)
         AS change_summary,
       coalesce((o.payload_json->'outcome'->'verification'->>'healthy')::boolean, false) AS verified_healthy,
       coalesce(o.payload_json->'outcome'->>'error', '') AS error,
       coalesce(o.payload_json->'outcome'->>'rolls_back_action_id', '') AS rolls_back_action_id,
       o.policy_name, o.event_id AS outcome_event_id, d.event_id AS decision_event_id
  FROM audit_events o
  LEFT JOIN audit_events d
    ON d.event_type = 'decision'
   AND d.event_id::text = o.payload_json->'outcome'->>'decision_id'
 WHERE o.event_type = 'outcome';

-- Human say: approvals and denials sent through the control topic, and
-- decisions whose approver is not the gate's own rules.
CREATE VIEW approvals AS
SELECT seq, occurred_at, incident_id, 'control' AS source,
       coalesce(payload_json->'control'->>'issued_by', '') AS approver,
       coalesce((payload_json->'control'->'approval'->>'approve')::boolean, false) AS approved,
       coalesce(payload_json->'control'->'approval'->>'proposal_id', '') AS proposal_id,
       coalesce(payload_json->'control'->>'reason', '') AS reason,
       target_namespace, target_kind, target_name, '' AS action_type, event_id
  FROM audit_events
 WHERE event_type = 'control' AND payload_json->'control' ? 'approval'
UNION ALL
SELECT seq, occurred_at, incident_id, 'decision' AS source,
       payload_json->'decision'->>'approver' AS approver,
       verdict = 'approved' AS approved,
       coalesce(payload_json->'decision'->>'proposal_id', '') AS proposal_id,
       coalesce(payload_json->'decision'->>'reason', '') AS reason,
       target_namespace, target_kind, target_name, action_type, event_id
  FROM audit_events
 WHERE event_type = 'decision'
   AND coalesce(payload_json->'decision'->>'approver', '') NOT IN ('', 'safety-gate');

CREATE VIEW policy_changes AS
SELECT seq, occurred_at, producer_service,
       coalesce(payload_json->'control'->>'issued_by', '') AS issued_by,
       payload_json->'control'->'policy_change'->'policy'->>'name' AS policy,
       coalesce(payload_json->'control'->'policy_change'->'policy'->>'version', '') AS version,
       coalesce(payload_json->'control'->'policy_change'->'policy'->>'source', '') AS source,
       coalesce(payload_json->'control'->'policy_change'->>'change', '') AS change,
       coalesce(payload_json->'control'->'policy_change'->>'detail', '') AS detail,
       coalesce(payload_json->'control'->>'reason', '') AS reason,
       event_id
  FROM audit_events
 WHERE event_type = 'control' AND payload_json->'control' ? 'policy_change';

-- ------------------------------------------------------------------ privileges
REVOKE ALL ON audit_events, audit_event_ids, audit_chain_anchors, dead_letters FROM PUBLIC;
GRANT SELECT, INSERT ON audit_events, audit_event_ids, dead_letters TO kubemend_writer;
GRANT SELECT ON audit_chain_anchors TO kubemend_writer;
GRANT USAGE ON SEQUENCE dead_letters_id_seq TO kubemend_writer;
GRANT SELECT ON audit_events, audit_event_ids, audit_chain_anchors, dead_letters, incidents,
  incident_timeline, actions, approvals, policy_changes TO kubemend_reader;
REVOKE ALL ON FUNCTION audit_ensure_partitions(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_ensure_partitions(timestamptz, integer) TO kubemend_writer;
REVOKE ALL ON FUNCTION audit_detach_partition(regclass) FROM PUBLIC;

SELECT audit_ensure_partitions(now(), 2);
