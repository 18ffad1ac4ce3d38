{{/*
The HTTPS entry point: TLS ends here and the pods serve plain HTTP behind it. The certificate
Secret is referenced by name (created by cert-manager through an annotation, or by hand); the
chart never creates it.
*/}}
{{- define "meterhub-common.ingress" -}}
{{- $ctx := .context -}}
{{- $ing := $ctx.Values.ingress -}}
{{- if $ing.enabled -}}
{{- if not $ing.hosts -}}
{{- fail "ingress.hosts must list at least one host when ingress.enabled is true" -}}
{{- end -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . | quote }}
  {{- end }}
  tls:
    - hosts:
        {{- range $ing.hosts }}
        - {{ . | quote }}
        {{- end }}
      secretName: {{ required "ingress.tls.secretName is required: the Ingress always terminates TLS" $ing.tls.secretName | quote }}
  rules:
    {{- range $ing.hosts }}
    - host: {{ . | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "meterhub-common.names.fullname" $ctx }}
                port:
                  name: http
    {{- end }}
{{- end -}}
{{- end -}}
