{{/*
HorizontalPodAutoscaler on CPU plus the optional custom metrics of .Values.autoscaling.customMetrics,
a map so each one can be switched on alone (--set autoscaling.customMetrics.<key>.enabled=true):

  filesPending:
    enabled: false
    type: External          # External (one series for the whole service) or Pods (one per pod)
    metric: meterhub_ingest_files_pending
    averageValue: "5"       # target per pod
    selector: {}            # optional label selector on the metric

Custom metrics need a metrics adapter (e.g. prometheus-adapter) that serves them; see
docs/deployment.md.
*/}}
{{- define "meterhub-common.hpa" -}}
{{- $ctx := .context -}}
{{- $as := $ctx.Values.autoscaling -}}
{{- if $as.enabled -}}
{{- if lt (int $as.maxReplicas) (int $as.minReplicas) -}}
{{- fail "autoscaling.maxReplicas must not be below autoscaling.minReplicas" -}}
{{- end -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "meterhub-common.names.fullname" $ctx }}
  minReplicas: {{ $as.minReplicas }}
  maxReplicas: {{ $as.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $as.targetCPUUtilizationPercentage }}
    {{- range $key := keys ($as.customMetrics | default dict) | sortAlpha }}
    {{- $m := get $as.customMetrics $key }}
    {{- if $m.enabled }}
    {{- $type := $m.type | default "Pods" }}
    {{- if not (has $type (list "Pods" "External")) }}
    {{- fail (printf "autoscaling.customMetrics.%s.type must be Pods or External" $key) }}
    {{- end }}
    - type: {{ $type }}
      {{ if eq $type "Pods" }}pods{{ else }}external{{ end }}:
        metric:
          name: {{ required (printf "autoscaling.customMetrics.%s.metric is required" $key) $m.metric }}
          {{- with $m.selector }}
          selector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        target:
          type: AverageValue
          averageValue: {{ required (printf "autoscaling.customMetrics.%s.averageValue is required" $key) $m.averageValue | quote }}
    {{- end }}
    {{- end }}
  {{- with $as.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
