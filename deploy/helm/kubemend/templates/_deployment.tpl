{{/*
patchDeployment ROOT DEPLOYMENT SECRET-NAMES: a base Deployment with values applied, in place.
The service is the pod's app.kubernetes.io/component label (collector, analyzer, ...).
*/}}
{{- define "kubemend.patchDeployment" -}}
{{- $root := index . 0 }}{{ $d := index . 1 }}{{ $secretNames := index . 2 }}{{ $v := $root.Values }}
{{- $tpl := $d.spec.template }}
{{- $svc := index $tpl.metadata.labels "app.kubernetes.io/component" }}
{{- $sv := index ($v.services | default dict) $svc | default dict }}
{{- if hasKey $sv "replicas" }}{{ $_ := set $d.spec "replicas" $sv.replicas }}{{ end }}
{{- $pod := $tpl.spec }}
{{- if $v.highAvailability.enabled }}
{{- /* deploy/k8s/overlays/prod's shape: >= 2 replicas, preferred anti-affinity per node, spread over zones and nodes. */}}
{{- $_ := set $d.spec "replicas" (max 2 ($d.spec.replicas | default 1) | int) }}
{{- $sel := dict "matchLabels" (dict "app.kubernetes.io/name" (index $tpl.metadata.labels "app.kubernetes.io/name")) }}
{{- $_ := set $pod "affinity" (dict "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" (dict "topologyKey" "kubernetes.io/hostname" "labelSelector" $sel))))) }}
{{- $spread := list }}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
{{- $spread = append $spread (dict "maxSkew" 1 "topologyKey" $key "whenUnsatisfiable" "ScheduleAnyway" "labelSelector" $sel) }}
{{- end }}
{{- $_ := set $pod "topologySpreadConstraints" $spread }}
{{- end }}
{{- $ann := merge ($tpl.metadata.annotations | default dict) ($v.podAnnotations | default dict) }}
{{- $cfg := "" }}
{{- if $root.Files.Get (printf "files/config/%s.yaml" $svc) }}{{ $cfg = include "kubemend.config" (list $root $svc) }}{{ end }}
{{- $sum := printf "%s\n%s\n%s" $cfg (include "kubemend.connection" $root) (include "kubemend.policies" $root) | sha256sum }}
{{- $_ := set $ann "checksum/config" $sum }}
{{- $_ := set $tpl.metadata "annotations" $ann }}
{{- with $v.nodeSelector }}{{ $_ := set $pod "nodeSelector" . }}{{ end }}
{{- with $v.tolerations }}{{ $_ := set $pod "tolerations" . }}{{ end }}
{{- with $v.affinity }}{{ $_ := set $pod "affinity" . }}{{ end }}
{{- with $v.imagePullSecrets }}{{ $_ := set $pod "imagePullSecrets" . }}{{ end }}
{{- range $vol := $pod.volumes | default list }}
{{- with $vol.secret }}{{ if hasKey $secretNames .secretName }}{{ $_ := set . "secretName" (index $secretNames .secretName) }}{{ end }}{{ end }}
{{- end }}
{{- $policies := and (eq $svc "analyzer") $v.policies.healingPolicies }}
{{- if $policies }}
{{- $_ := set $pod "volumes" (append $pod.volumes (dict "name" "policies" "configMap" (dict "name" "kubemend-policies"))) }}
{{- end }}
{{- range $c := concat ($pod.containers | default list) ($pod.initContainers | default list) }}
{{- if eq $c.image "kubemend" }}
{{- $_ := set $c "image" (include "kubemend.image" $root) }}
{{- $_ := set $c "imagePullPolicy" $v.image.pullPolicy }}
{{- end }}
{{- with $sv.resources }}{{ $_ := set $c "resources" . }}{{ end }}
{{- range $e := $c.env | default list }}
{{- with $e.valueFrom }}{{ with .secretKeyRef }}{{ if hasKey $secretNames .name }}{{ $_ := set . "name" (index $secretNames .name) }}{{ end }}{{ end }}{{ end }}
{{- end }}
{{- if $policies }}
{{- $_ := set $c "volumeMounts" (append ($c.volumeMounts | default list) (dict "name" "policies" "mountPath" "/etc/kubemend/policies" "readOnly" true)) }}
{{- end }}
{{- end }}
{{- end }}
