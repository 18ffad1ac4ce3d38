{{/*
One ServiceAccount per service, so RBAC and cloud workload identity can be granted per service.
Its token is not mounted: no Meterhub service talks to the Kubernetes API.
*/}}
{{- define "meterhub-common.serviceaccount" -}}
{{- $ctx := .context -}}
{{- if $ctx.Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "meterhub-common.names.serviceAccount" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $ctx.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}
