-- A DUPLICATE outcome is the executor's redelivery fence answering ("this
-- action was applied before"), not a result: the incidents view used to map
-- it to 'resolved', so an incident whose real outcome was NOT_FIXED, or whose
-- real outcome was lost, showed as resolved. Now the status comes from the
-- last outcome that is not a duplicate; an incident with only duplicates stays
-- in progress (its approved decision has no result in the trail).
CREATE OR REPLACE VIEW incidents AS
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
         -- The last outcome that says what happened: a DUPLICATE is the
         -- redelivery fence answering, not a result.
         coalesce((array_agg(outcome_status ORDER BY seq DESC)
                     FILTER (WHERE outcome_status NOT IN ('', 'duplicate')))[1],
                  (array_agg(outcome_status ORDER BY seq DESC) FILTER (WHERE outcome_status <> ''))[1])
           AS outcome,
         bool_or(event_type = 'proposal') AS proposed,
         count(*) AS events,
         max(seq) AS last_seq
    FROM audit_events
   WHERE incident_id <> ''
   GROUP BY incident_id)
SELECT incident_id, first_seen, last_seen, target_namespace, target_kind, target_name,
       coalesce(signals, '{}') AS signals, last_action, verdict, outcome,
       CASE
         WHEN outcome = 'succeeded' THEN 'resolved'
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
