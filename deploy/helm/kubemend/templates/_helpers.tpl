{{/*
Shared helpers. The chart renders deploy/k8s/base from files/ (verbatim copies) and patches each
object with values; these helpers hold the patching rules, once.
*/}}

{{/* Labels Helm adds to every object it renders (on top of the base's own). */}}
{{- define "kubemend.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Kinds that are not namespaced: they get a per-namespace name outside namespace kubemend. */}}
{{- define "kubemend.clusterKinds" -}}
[ClusterRole, ClusterRoleBinding, ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
 MutatingAdmissionPolicy, MutatingAdmissionPolicyBinding, ValidatingWebhookConfiguration,
 MutatingWebhookConfiguration, PriorityClass, CustomResourceDefinition, Namespace]
{{- end }}

{{/*
The name of a cluster-scoped object of ours: the base's name in namespace kubemend (the documented
install, identical to the kustomize base), NAME-<namespace> elsewhere, so that a second install in
another namespace (a staging copy, the tests) never takes over the first one's ClusterRoles.
*/}}
{{- define "kubemend.clusterName" -}}
{{- $name := index . 0 }}{{ $ns := index . 1 -}}
{{- if eq $ns "kubemend" }}{{ $name }}{{ else }}{{ printf "%s-%s" $name $ns | trunc 253 }}{{ end -}}
{{- end }}

{{- define "kubemend.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end }}

{{/* The Secrets the base's pods reference, by the name the base uses -> the name to use. */}}
{{- define "kubemend.secretNames" -}}
kubemend-webhook: {{ default "kubemend-webhook" .Values.webhook.existingSecret }}
kubemend-admin-tokens: {{ default "kubemend-admin-tokens" .Values.admin.existingSecret }}
kubemend-postgres: {{ if .Values.postgres.password }}kubemend-postgres{{ else }}{{ required "postgres.existingSecret (or postgres.password) is required" .Values.postgres.existingSecret }}{{ end }}
kubemend-kafka: {{ if .Values.kafka.properties }}kubemend-kafka{{ else }}{{ default "kubemend-kafka" .Values.kafka.existingSecret }}{{ end }}
{{- end }}

{{/*
docs FILE-CONTENT: the YAML documents of a file as a list (toYaml), comment-only parts dropped.
A document that does not parse stops the render with the file's name.
*/}}
{{- define "kubemend.docs" -}}
{{- $out := list }}
{{- range $part := regexSplit "(?m)^---[ \t]*$" (index . 1) -1 }}
{{- $obj := fromYaml $part }}
{{- if hasKey $obj "Error" }}{{ fail (printf "%s: %s" (index $ 0) $obj.Error) }}{{ end }}
{{- if $obj.kind }}{{ $out = append $out $obj }}{{ end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
config ROOT SERVICE: the service's config file, deploy/k8s/base/config/<service>.yaml, with what the
values set merged over it (mode, dry run, protected namespaces, policies, own namespace, then
services.<service>.config).
*/}}
{{- define "kubemend.config" -}}
{{- $root := index . 0 }}{{ $svc := index . 1 }}{{ $v := $root.Values }}{{ $ns := $root.Release.Namespace }}
{{- $cfg := fromYaml ($root.Files.Get (printf "files/config/%s.yaml" $svc)) }}
{{- $protected := $v.protectedNamespaces | default list }}
{{- if not (has $ns $protected) }}{{ $protected = append $protected $ns }}{{ end }}
{{- if eq $svc "safety-gate" }}
{{- $_ := set $cfg "gate" ($cfg.gate | default dict) }}
{{- $_ := set $cfg.gate "mode" $v.mode }}{{ $_ := set $cfg.gate "own_namespace" $ns }}
{{- $_ := set $cfg "protected" ($cfg.protected | default dict) }}
{{- $_ := set $cfg.protected "namespaces" $protected }}
{{- else if eq $svc "executor" }}
{{- $_ := set $cfg "executor" ($cfg.executor | default dict) }}
{{- $_ := set $cfg.executor "dry_run" $v.dryRun }}{{ $_ := set $cfg.executor "own_namespace" $ns }}
{{- $_ := set $cfg "protected" ($cfg.protected | default dict) }}
{{- $_ := set $cfg.protected "namespaces" $protected }}
{{- else if eq $svc "analyzer" }}
{{- $_ := set $cfg "analyzer" ($cfg.analyzer | default dict) }}
{{- $paths := list }}
{{- if $v.policies.includeDefaults }}{{ $paths = $cfg.analyzer.policy_paths | default list }}{{ end }}
{{- if $v.policies.healingPolicies }}{{ $paths = append $paths "/etc/kubemend/policies" }}{{ end }}
{{- if not $paths }}{{ fail "policies: includeDefaults is false and policies.healingPolicies is empty: the analyzer would have no policy" }}{{ end }}
{{- $_ := set $cfg.analyzer "policy_paths" $paths }}
{{- end }}
{{- $over := dict }}
{{- with (index ($v.services | default dict) $svc) }}{{ $over = .config | default dict }}{{ end }}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy $over)) }}
{{- end }}

{{/* The policy file the analyzer reads from ConfigMap kubemend-policies. */}}
{{- define "kubemend.policies" -}}
{{- range $i, $p := .Values.policies.healingPolicies }}
{{- if not $p.name }}{{ fail (printf "policies.healingPolicies[%d]: name is required" $i) }}{{ end }}
{{- if not $p.spec }}{{ fail (printf "policies.healingPolicies[%d] (%s): spec is required" $i $p.name) }}{{ end }}
---
{{ toYaml (dict "apiVersion" "kubemend.io/v1alpha1" "kind" "HealingPolicy" "metadata" (dict "name" $p.name) "spec" $p.spec) }}
{{- end }}
{{- end }}

{{/* Where Kafka and PostgreSQL are: environment for every service (ConfigMap kubemend-connection). */}}
{{- define "kubemend.connection" -}}
KUBEMEND_KAFKA_BROKERS: {{ required "kafka.brokers is required" .Values.kafka.brokers | quote }}
KUBEMEND_KAFKA_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
{{- if regexMatch "(^|\\s)password\\s*=" .Values.postgres.dsn }}
{{- fail "postgres.dsn must not carry the password (it would sit in a ConfigMap): set postgres.password or postgres.existingSecret" }}
{{- end }}
KUBEMEND_POSTGRES_DSN: {{ required "postgres.dsn is required" .Values.postgres.dsn | quote }}
{{- end }}
