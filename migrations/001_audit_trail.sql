-- The audit trail: every kubemend event, once, in the order it was ingested.
-- Idempotent on event_id (a redelivered event is not stored twice).
CREATE TABLE audit_events (
  seq               bigserial,
  event_id          uuid        NOT NULL,
  event_type        text        NOT NULL,
  occurred_at       timestamptz NOT NULL,
  recorded_at       timestamptz NOT NULL,
  ingested_at       timestamptz NOT NULL DEFAULT now(),
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
  payload           bytea       NOT NULL,
  payload_json      jsonb       NOT NULL,
  PRIMARY KEY (event_id)
);
CREATE INDEX audit_events_incident ON audit_events (incident_id, seq);
CREATE INDEX audit_events_target ON audit_events (target_namespace, target_kind, target_name, occurred_at);
CREATE INDEX audit_events_type_time ON audit_events (event_type, occurred_at);
CREATE INDEX audit_events_causation ON audit_events (causation_id);

-- Messages no service could process, with why. Idempotent on their Kafka
-- coordinates.
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
