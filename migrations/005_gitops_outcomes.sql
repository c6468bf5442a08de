-- GitOps mode (docs/gitops.md): an outcome may be PENDING_MERGE (the fix is a
-- pull request waiting for review) and later CLOSED (closed unmerged). The
-- incidents view names them instead of falling through to 'in_progress':
-- status 'pending_merge' while the pull request is open, 'pr_closed' when it
-- was closed unmerged (a merged one ends as succeeded/not_fixed as before).
-- Everything else is 004's view unchanged.
DROP VIEW IF EXISTS incidents;
CREATE VIEW incidents AS
WITH rows AS (
  SELECT coalesce(m.incident_id, a.own_incident_id) AS incident_id, a.*
    FROM (SELECT seq, event_id, event_type, occurred_at, target_namespace, target_kind, target_name,
                 signal_name, action_type, verdict, outcome_status, payload_json,
                 incident_id AS own_incident_id
            FROM audit_events WHERE incident_id <> '') a
    LEFT JOIN incident_signal_map m ON a.event_type = 'signal' AND m.signal_id = a.event_id),
per AS (
  SELECT incident_id,
         min(occurred_at) AS first_seen,
         max(occurred_at) AS last_seen,
         (array_agg(target_namespace ORDER BY seq))[1] AS target_namespace,
         (array_agg(target_kind ORDER BY seq))[1] AS target_kind,
         (array_agg(target_name ORDER BY seq))[1] AS target_name,
         array_agg(DISTINCT signal_name) FILTER (WHERE event_type = 'signal') AS signals,
         count(*) FILTER (WHERE event_type = 'signal') AS absorbed,
         (array_agg(payload_json->'signal'->>'status' ORDER BY seq DESC)
            FILTER (WHERE event_type = 'signal'))[1] AS last_signal_status,
         (array_agg(action_type ORDER BY seq DESC) FILTER (WHERE action_type <> ''))[1] AS last_action,
         (array_agg(verdict ORDER BY seq DESC) FILTER (WHERE verdict <> ''))[1] AS verdict,
         coalesce((array_agg(outcome_status ORDER BY seq DESC)
                     FILTER (WHERE outcome_status NOT IN ('', 'duplicate')))[1],
                  (array_agg(outcome_status ORDER BY seq DESC) FILTER (WHERE outcome_status <> ''))[1])
           AS outcome,
         (array_agg(payload_json->'control'->'incident_closed'->>'classification' ORDER BY seq DESC)
            FILTER (WHERE event_type = 'control' AND payload_json->'control' ? 'incident_closed'))[1]
           AS closed_as,
         (array_agg(payload_json->'control'->>'reason' ORDER BY seq DESC)
            FILTER (WHERE event_type = 'control' AND payload_json->'control' ? 'no_action'))[1]
           AS why_not,
         bool_or(event_type = 'proposal') AS proposed,
         count(*) AS events,
         max(seq) AS last_seq
    FROM rows
   GROUP BY incident_id)
SELECT incident_id, first_seen, last_seen, target_namespace, target_kind, target_name,
       coalesce(signals, '{}') AS signals, last_action, verdict, outcome,
       CASE
         WHEN closed_as = 'fixed_by_action' THEN 'resolved'
         WHEN closed_as = 'recovered_on_own' THEN 'recovered'
         WHEN closed_as = 'not_fixed' THEN 'not_fixed'
         WHEN closed_as = 'merged' THEN 'merged'
         WHEN outcome = 'succeeded' THEN 'resolved'
         WHEN outcome = 'pending_merge' THEN 'pending_merge'
         WHEN outcome = 'closed' THEN 'pr_closed'
         WHEN outcome = 'dry_run' THEN 'dry_run'
         WHEN outcome IN ('failed', 'not_fixed') THEN 'failed'
         WHEN outcome = 'rolled_back' THEN 'rolled_back'
         WHEN outcome = 'skipped' THEN 'skipped'
         WHEN outcome = 'refused' THEN 'refused'
         WHEN verdict = 'rejected' THEN 'rejected'
         WHEN verdict = 'awaiting_approval' THEN 'awaiting_approval'
         WHEN verdict = 'expired' THEN 'expired'
         WHEN verdict = 'approved' THEN 'in_progress'
         WHEN proposed THEN 'proposed'
         WHEN last_signal_status = 'SIGNAL_STATUS_RESOLVED' THEN 'resolved'
         ELSE 'open'
       END AS status,
       events, last_seq, coalesce(closed_as, '') AS closed_as, absorbed,
       coalesce(why_not, '') AS why_not
  FROM per;

GRANT SELECT ON incidents TO kubemend_reader;
