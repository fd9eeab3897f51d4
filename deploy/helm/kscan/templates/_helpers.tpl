{{/* The chart's name. */}}
{{- define "kscan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of every object: RELEASE, or RELEASE-kscan. */}}
{{- define "kscan.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kscan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kscan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kscan.labels" -}}
{{ include "kscan.selectorLabels" . }}
app.kubernetes.io/component: serve
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kscan.serviceAccountName" -}}
{{- default (include "kscan.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The namespaces the service serves, comma-separated: `namespaces`, or the release's. */}}
{{- define "kscan.namespaces" -}}
{{- if .Values.namespaces -}}
{{- join "," .Values.namespaces -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: by digest when given, else by tag (default appVersion). */}}
{{- define "kscan.imageRef" -}}
{{- $image := index . 0 -}}
{{- $appVersion := index . 1 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default $appVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The image the shard pods of executor jobs run: jobs.image, else the service's own (it holds /usr/local/bin/kscan). */}}
{{- define "kscan.dispatchImage" -}}
{{- default (include "kscan.imageRef" (list .Values.image .Chart.AppVersion)) .Values.jobs.image -}}
{{- end -}}

{{/* The Secret holding the tokens file. */}}
{{- define "kscan.tokensSecret" -}}
{{- default (printf "%s-tokens" (include "kscan.fullname" .)) .Values.tokens.existingSecret -}}
{{- end -}}

{{/* The PersistentVolumeClaim of the SQLite store. */}}
{{- define "kscan.claim" -}}
{{- default (printf "%s-data" (include "kscan.fullname" .)) .Values.store.sqlite.existingClaim -}}
{{- end -}}

{{/*
Checks no schema can express; each stops the render with what to change.
Included by every template that depends on them.
*/}}
{{- define "kscan.validate" -}}
{{- range $i, $ns := .Values.namespaces -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns) -}}
{{- fail (printf "namespaces[%d]: %q is not a namespace name: an RFC 1123 label is lowercase letters, digits and '-', starting and ending with a letter or digit" $i $ns) -}}
{{- end -}}
{{- if gt (len $ns) 63 -}}
{{- fail (printf "namespaces[%d]: %q is not a namespace name: an RFC 1123 label is at most 63 characters (it has %d)" $i $ns (len $ns)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.store.type "sqlite") (ne (int .Values.replicaCount) 1) -}}
{{- fail (printf "replicaCount is %d but store.type is sqlite: the SQLite store is one file on a ReadWriteOnce volume and only one replica may use it. Set replicaCount: 1, or store.type: postgres for several replicas" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (eq .Values.store.type "postgres") (not .Values.store.postgres.existingSecret) -}}
{{- fail "store.type is postgres but store.postgres.existingSecret is empty: name the Secret (in the release's namespace) whose key store.postgres.key holds the PostgreSQL URL" -}}
{{- end -}}
{{- if ne .Values.executor "jobs" -}}
{{- range $key := list "shards" "apiServer" "image" -}}
{{- if not (empty (get $.Values.jobs $key)) -}}
{{- fail (printf "jobs.%s is set but executor is %s: the jobs settings apply only to executor: jobs" $key $.Values.executor) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tokens.existingSecret .Values.tokens.entries -}}
{{- fail "tokens.existingSecret and tokens.entries are both set: the tokens come from one Secret, either yours (existingSecret) or the chart's (entries)" -}}
{{- end -}}
{{- $served := splitList "," (include "kscan.namespaces" .) -}}
{{- range $i, $e := .Values.tokens.entries -}}
{{- if and (hasPrefix "sha256:" $e.token) (not (regexMatch "^sha256:[0-9a-fA-F]{64}$" $e.token)) -}}
{{- fail (printf "tokens.entries[%d].token: sha256: must be followed by the 64 hex digits of the token's SHA-256" $i) -}}
{{- end -}}
{{- range $e.namespaces -}}
{{- if and (ne . "*") (not (has . $served)) -}}
{{- fail (printf "tokens.entries[%d].namespaces: %s is not one the service serves (namespaces: %s)" $i . (join "," $served)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.triggers.namespace (not (has .Values.triggers.namespace $served)) -}}
{{- fail (printf "triggers.namespace %s is not one the service serves (namespaces: %s)" .Values.triggers.namespace (join "," $served)) -}}
{{- end -}}
{{- if and .Values.triggers.scheduleSelector (not .Values.triggers.schedule) -}}
{{- fail "triggers.scheduleSelector is set but triggers.schedule is empty: it says which pods the schedule rescans" -}}
{{- end -}}
{{- if and .Values.triggers.schedule (not (or .Values.triggers.scheduleSelector .Values.triggers.watch)) -}}
{{- fail "triggers.schedule needs the pods to rescan: set triggers.scheduleSelector (or triggers.watch)" -}}
{{- end -}}
{{- if and .Values.triggers.threshold (not .Values.thresholds.configMap) -}}
{{- fail "triggers.threshold needs thresholds.configMap: the threshold is read from there" -}}
{{- end -}}
{{- end -}}
