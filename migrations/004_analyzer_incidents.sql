-- One incident per root cause, as the analyzer sees it. The collector gives
-- each signal an incident id of its own (one per alert series); the analyzer
-- groups signals into its incidents (five crash-looping pods of a Deployment
-- are one) and says so in the trail: a proposal lists the signals it answers
-- (proposal.signal_ids), a signal that led to no proposal gets a NoAction
-- control naming the analyzer's incident, and IncidentClosed lists every
-- signal it absorbed (merged ones: the incident that took them over).
--
-- incident_signal_map: signal event id -> the analyzer's incident (the latest
-- word wins). The incidents view and incident_timeline group rows by it, so a
-- signal absorbed into an incident no longer shows as an incident of its own;
-- rows the analyzer never spoke about keep their own incident id.
-- incidents gains closed_as (the analyzer's classification when it closed
-- the incident: fixed_by_action, recovered_on_own, not_fixed, merged), which
-- also decides the status once closed, absorbed (how many signal events it
-- took in) and why_not (the last NoAction reason: why nothing was proposed).
CREATE OR REPLACE VIEW incident_signal_map AS
SELECT DISTINCT ON (signal_id) signal_id::uuid AS signal_id, incident_id
  FROM (
    SELECT payload_json->'control'->'no_action'->>'signal_id' AS signal_id,
           payload_json->'control'->'no_action'->>'incident_id' AS incident_id, seq
      FROM audit_events
     WHERE event_type = 'control' AND payload_json->'control' ? 'no_action'
    UNION ALL
    SELECT s.value, a.incident_id, a.seq
      FROM audit_events a,
           jsonb_array_elements_text(coalesce(a.payload_json->'proposal'->'signal_ids', '[]'::jsonb)) s
     WHERE a.event_type = 'proposal'
    UNION ALL
    SELECT s.value,
           coalesce(nullif(a.payload_json->'control'->'incident_closed'->>'merged_into', ''), a.incident_id),
           a.seq
      FROM audit_events a,
           jsonb_array_elements_text(
             coalesce(a.payload_json->'control'->'incident_closed'->'signal_ids', '[]'::jsonb)) s
     WHERE a.event_type = 'control' AND a.payload_json->'control' ? 'incident_closed') m
 WHERE signal_id ~ '^[0-9a-fA-F-]{36}$' AND coalesce(incident_id, '') <> ''
 ORDER BY signal_id, seq DESC;

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

GRANT SELECT ON incidents, incident_signal_map TO kubemend_reader;

-- The timeline of an analyzer incident includes the signals it absorbed.
CREATE OR REPLACE VIEW incident_timeline AS
SELECT coalesce(m.incident_id, a.incident_id) AS incident_id, a.seq, a.occurred_at, a.ingested_at,
       a.event_type, a.producer_service, a.target_namespace, a.target_kind, a.target_name,
       CASE a.event_type
         WHEN 'signal' THEN a.signal_name || coalesce(' ' || lower(replace(
              a.payload_json->'signal'->>'status', 'SIGNAL_STATUS_', '')), '')
         WHEN 'proposal' THEN a.action_type || ' (policy ' || a.policy_name || ')'
         WHEN 'decision' THEN a.verdict || ' ' || a.action_type || ' by ' || a.rule
         WHEN 'outcome' THEN a.action_type || ' ' || a.outcome_status
         ELSE coalesce(a.payload_json->'control'->>'reason', '')
       END AS summary,
       coalesce(a.payload_json->'proposal'->>'reason', a.payload_json->'decision'->>'reason',
                a.payload_json->'outcome'->>'error', a.payload_json->'signal'->>'summary', '') AS detail,
       a.event_id, a.causation_id
  FROM audit_events a
  LEFT JOIN incident_signal_map m ON a.event_type = 'signal' AND m.signal_id = a.event_id
 WHERE a.incident_id <> '';
