{{/* Chart name, overridable with nameOverride. */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the objects: fullnameOverride, else "<release>-<name>", or just the
release name when it already contains the chart name. Truncated to 63 characters
(the DNS label limit).
*/}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "portico.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the pods: must never change between upgrades. */}}
{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "portico.labels" -}}
helm.sh/chart: {{ include "portico.chart" . }}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: portico
{{- end }}

{{/* ServiceAccount the pods run as. */}}
{{- define "portico.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portico.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag defaults to the chart's appVersion. */}}
{{- define "portico.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "namespace/name" of the Service whose address goes into Ingress status. */}}
{{- define "portico.publishService" -}}
{{- if .Values.publishService.pathOverride }}
{{- .Values.publishService.pathOverride }}
{{- else }}
{{- printf "%s/%s" .Release.Namespace (include "portico.fullname" .) }}
{{- end }}
{{- end }}

{{/*
"true" when the Role must grant reading Services in the release namespace: only some
namespaces are watched, the release namespace is not one of them, and the published
Service is the chart's own (which lives there).
*/}}
{{- define "portico.readReleaseServices" -}}
{{- if and .Values.watchNamespaces .Values.publishService.enabled (not .Values.publishService.pathOverride) (not (has .Release.Namespace .Values.watchNamespaces)) -}}
true
{{- end }}
{{- end }}

{{/*
The --tcp-ports value: the tcpPorts entries' port numbers, comma-joined. Fails on an
entry without a name or port, a name that is no IANA service name or is taken by the
chart's own ports, a port outside 1-65535 or one that is the http, https or admin port
(Portico refuses to start then), and on a name or port given twice.
*/}}
{{- define "portico.tcpPortList" -}}
{{- $ports := list }}
{{- $names := list "http" "https" "admin" }}
{{- $taken := list (int .Values.ports.http) (int .Values.ports.https) (int .Values.ports.admin) }}
{{- range .Values.tcpPorts }}
{{- $name := toString (default "" .name) }}
{{- $port := int (default 0 .port) }}
{{- if or (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name)) (gt (len $name) 15) (not (regexMatch "[a-z]" $name)) }}
{{- fail (printf "tcpPorts: name %q must be a port name: at most 15 lower-case letters, digits and '-', with a letter" $name) }}
{{- end }}
{{- if has $name $names }}
{{- fail (printf "tcpPorts: name %q is given twice or is one of the chart's own ports (http, https, admin)" $name) }}
{{- end }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "tcpPorts: port of %q must be from 1 to 65535" $name) }}
{{- end }}
{{- if has $port $taken }}
{{- fail (printf "tcpPorts: port %d of %q is given twice or is the http, https or admin port" $port $name) }}
{{- end }}
{{- $names = append $names $name }}
{{- $taken = append $taken $port }}
{{- $ports = append $ports (toString $port) }}
{{- end }}
{{- join "," $ports }}
{{- end }}
