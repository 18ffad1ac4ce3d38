{{/*
The service's non-secret settings, injected with envFrom. Usage:

  {{ include "meterhub-common.configmap" (dict "context" $) }}
  {{ include "meterhub-common.configmap" (dict "context" $ "data" $extra) }}

"data" lets a chart add settings it computes from its own values (ftps-publisher wires its port
numbers this way, so the Service, the NetworkPolicy and the process always agree).
Values in .Values.config come last and win; the chart validates their prefix.
*/}}
{{- define "meterhub-common.configmap.data" -}}
{{- $ctx := .context -}}
{{- $computed := .data | default dict -}}
{{- $data := dict
    "MH_ENVIRONMENT" $ctx.Values.app.environment
    "MH_TOKEN_PUBLIC_KEY_FILE" (printf "%s/public.pem" (include "meterhub-common.tokenDir" $ctx))
    "OTEL_SEMCONV_STABILITY_OPT_IN" "http"
    "OTEL_SERVICE_NAME" $ctx.Chart.Name
-}}
{{- if $ctx.Values.secrets.tokenPrivateKey.name -}}
{{- $_ := set $data (printf "%sTOKEN_PRIVATE_KEY_FILE" $ctx.Values.app.envPrefix) (printf "%s/private.pem" (include "meterhub-common.tokenDir" $ctx)) -}}
{{- end -}}
{{- with $ctx.Values.otel.exporterEndpoint -}}
{{- $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" . -}}
{{- end -}}
{{- with $ctx.Values.app.forwardedAllowIps -}}
{{- /* uvicorn --proxy-headers trusts X-Forwarded-* only from these peers; it reads this variable. */ -}}
{{- $_ := set $data "FORWARDED_ALLOW_IPS" . -}}
{{- end -}}
{{- range $key, $value := $computed -}}
{{- $_ := set $data $key $value -}}
{{- end -}}
{{- range $key, $value := $ctx.Values.config -}}
{{- if hasKey $computed $key -}}
{{- fail (printf "config.%s is set by the chart from its own values; change those instead" $key) -}}
{{- end -}}
{{- $_ := set $data $key $value -}}
{{- end -}}
{{- range $key := keys $data | sortAlpha }}
{{ $key }}: {{ get $data $key | toString | quote }}
{{- end -}}
{{- end -}}

{{- define "meterhub-common.configmap" -}}
{{- $ctx := .context -}}
{{- include "meterhub-common.validate" $ctx -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
data:
  {{- include "meterhub-common.configmap.data" . | trim | nindent 2 }}
{{- end -}}
