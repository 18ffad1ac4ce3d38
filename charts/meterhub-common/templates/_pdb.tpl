{{/* Keeps node drains from taking down more than maxUnavailable pods of the service at once. */}}
{{- define "meterhub-common.pdb" -}}
{{- $ctx := .context -}}
{{- if $ctx.Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
spec:
  {{- if $ctx.Values.podDisruptionBudget.minAvailable }}
  minAvailable: {{ $ctx.Values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $ctx.Values.podDisruptionBudget.maxUnavailable | default 1 }}
  {{- end }}
  {{- /* A pod that never became ready (e.g. database down) must not block a drain. */}}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "meterhub-common.labels.selector" (dict "context" $ctx) | nindent 6 }}
{{- end -}}
{{- end -}}
