{{/* Names: "metallb-nra" for a release called metallb-nra (the kustomize names). */}}
{{- define "metallb-nra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "metallb-nra.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "metallb-nra.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "metallb-nra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "metallb-nra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "metallb-nra.labels" -}}
{{ include "metallb-nra.selectorLabels" . }}
app.kubernetes.io/component: node-route-agent
app.kubernetes.io/part-of: metallb
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "metallb-nra.image" -}}
{{- $i := .Values.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) -}}
{{- end -}}
{{- end -}}

{{/* METRICS_ADDRESS split: the port (after the last colon) and the host (before it). */}}
{{- define "metallb-nra.metricsPort" -}}
{{- regexReplaceAll "^.*:" .Values.metrics.address "" | atoi -}}
{{- end -}}
{{- define "metallb-nra.metricsHost" -}}
{{- regexReplaceAll ":[0-9]+$" .Values.metrics.address "" -}}
{{- end -}}

{{- define "metallb-nra.scriptsConfigMap" -}}
{{- default (printf "%s-scripts" (include "metallb-nra.fullname" .)) .Values.scripts.existingConfigMap -}}
{{- end -}}

{{/* Refusals the schema cannot express. */}}
{{- define "metallb-nra.validate" -}}
{{- $host := include "metallb-nra.metricsHost" . -}}
{{- $probes := or .Values.probes.liveness.enabled .Values.probes.readiness.enabled -}}
{{- if and $probes (not (has $host (list "" "0.0.0.0" "[::]"))) -}}
{{- fail (printf "metrics.address %q listens on %s only: the kubelet probes the pod IP (the node's address); use \":PORT\", or disable probes.liveness and probes.readiness" .Values.metrics.address $host) -}}
{{- end -}}
{{- $s := .Values.scripts -}}
{{- if and $s.enabled (not $s.existingConfigMap) (not $s.preReconcile) (not $s.postReconcile) -}}
{{- fail "scripts.enabled: set scripts.preReconcile and/or scripts.postReconcile, or scripts.existingConfigMap" -}}
{{- end -}}
{{- if and $s.enabled $s.existingConfigMap (or $s.preReconcile $s.postReconcile) -}}
{{- fail "scripts: either inline scripts (preReconcile/postReconcile) or existingConfigMap, not both" -}}
{{- end -}}
{{- $sessions := .Values.frrk8sSessions.enabled -}}
{{- range .Values.extraEnv -}}
{{- if has .name (list "NODE_NAME" "METALLB_USE_CRDS" "METALLB_CONFIGMAP_NAME" "LOG_LEVEL" "METRICS_ADDRESS" "PRE_RECONCILE_SCRIPT_PATH" "POST_RECONCILE_SCRIPT_PATH" "METALLB_STATIC_FILE") -}}
{{- fail (printf "extraEnv: %s is set by the chart (mode, configMapName, logLevel, metrics.address, scripts); METALLB_STATIC_FILE has no place in a pod" .name) -}}
{{- end -}}
{{- if and $sessions (has .name (list "NEXTHOP_OBJECTS" "FRRK8S_NAMESPACE")) -}}
{{- fail (printf "extraEnv: %s is set by the chart when frrk8sSessions.enabled is true" .name) -}}
{{- end -}}
{{- end -}}
{{- if and (not $s.enabled) (or $s.existingConfigMap $s.preReconcile $s.postReconcile) -}}
{{- fail "scripts are set but scripts.enabled is false" -}}
{{- end -}}
{{- end -}}
