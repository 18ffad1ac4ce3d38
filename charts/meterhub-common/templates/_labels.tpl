{{/*
Labels. Both helpers take (dict "context" $ "component" "api"); component defaults to "api".

The component is part of the selector on purpose: the migration Job's pod carries the same
name and instance labels as the service's pods, and without the component the Service would
send traffic to it and the PodDisruptionBudget would count it.
*/}}

{{- define "meterhub-common.labels.selector" -}}
app.kubernetes.io/name: {{ include "meterhub-common.names.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component | default "api" }}
{{- end -}}

{{- define "meterhub-common.labels.standard" -}}
{{ include "meterhub-common.labels.selector" . }}
app.kubernetes.io/part-of: meterhub
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
helm.sh/chart: {{ include "meterhub-common.names.chart" .context }}
{{- with .context.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
Labels that pick the pods of another Meterhub service in the same namespace, by its chart name:
(dict "name" "ftps-publisher").
*/}}
{{- define "meterhub-common.labels.peer" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: meterhub
app.kubernetes.io/component: api
{{- end -}}
