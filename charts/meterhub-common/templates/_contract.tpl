{{/*
The numbers and paths every Meterhub image is built for. They are contract, not values: the
image serves plain HTTP on 8000 (TLS ends at the Ingress) and the settings classes read the
token keys from these files.
*/}}
{{- define "meterhub-common.httpPort" -}}8000{{- end -}}
{{- define "meterhub-common.tokenDir" -}}/etc/meterhub/token{{- end -}}

{{/*
Fail the render early, with a message that says what to fix, instead of rolling out pods that
crash on start.
*/}}
{{- define "meterhub-common.validate" -}}
{{- $v := .Values -}}
{{- if not $v.app.package -}}
{{- fail "app.package is required: the Python package whose main:create_app uvicorn runs" -}}
{{- end -}}
{{- if not $v.app.envPrefix -}}
{{- fail "app.envPrefix is required, e.g. MH_INGEST_" -}}
{{- end -}}
{{- if not (has $v.app.environment (list "production" "development" "test")) -}}
{{- fail (printf "app.environment must be production, development or test, not %q" (toString $v.app.environment)) -}}
{{- end -}}
{{- range $key, $_ := $v.config -}}
{{- if not (hasPrefix $v.app.envPrefix $key) -}}
{{- fail (printf "config.%s: service settings must start with %s; shared settings are set by the chart" $key $v.app.envPrefix) -}}
{{- end -}}
{{- end -}}
{{- if not $v.secrets.database.name -}}
{{- fail "secrets.database.name is required: the Secret holding DATABASE_URL" -}}
{{- end -}}
{{- if not $v.secrets.tokenPublicKey.name -}}
{{- fail "secrets.tokenPublicKey.name is required: the Secret holding the token public key" -}}
{{- end -}}
{{- end -}}
