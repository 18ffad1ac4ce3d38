{{/*
The image reference. skaffold sets image.repository and image.tag, and in production also
image.digest (sha256:...), which pins the image; the tag then stays only for people reading the
manifest. Without a tag the chart's appVersion is used, so an install never silently runs
"latest".
*/}}
{{- define "meterhub-common.image" -}}
{{- $repository := required "image.repository is required" .Values.image.repository -}}
{{- $tag := toString (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .) -}}
{{- fail (printf "image.digest must be sha256:<64 hex digits>, not %q" .) -}}
{{- end -}}
{{- printf "%s:%s@%s" $repository $tag . -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets of the pod spec, or nothing. */}}
{{- define "meterhub-common.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets -}}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end -}}
{{- end -}}
