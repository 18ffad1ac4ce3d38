{{/*
Names, in the style of bitnami/common. Every helper takes the root context of the chart that
includes it, so .Chart is the service chart (ingest, usage-api, ...), never this library.
*/}}

{{/* The chart name, or nameOverride. Peers' NetworkPolicies select pods by this name. */}}
{{- define "meterhub-common.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of the objects of a release. skaffold names each release after its chart, so the
release name already contains the chart name and is used as is ("ingest", not "ingest-ingest").
*/}}
{{- define "meterhub-common.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "meterhub-common.names.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* chart-version, as the helm.sh/chart label wants it ("+" is not allowed in label values). */}}
{{- define "meterhub-common.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A name derived from the fullname, e.g. (dict "context" $ "suffix" "ftps") -> "ftps-publisher-ftps". */}}
{{- define "meterhub-common.names.suffixed" -}}
{{- $base := include "meterhub-common.names.fullname" .context | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $base .suffix -}}
{{- end -}}

{{/* The ServiceAccount the pods run as. */}}
{{- define "meterhub-common.names.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "meterhub-common.names.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
