{{/* The in-cluster HTTP Service (ClusterIP); the Ingress and the other services use it. */}}
{{- define "meterhub-common.service" -}}
{{- $ctx := .context -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $ctx.Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "meterhub-common.labels.selector" (dict "context" $ctx) | nindent 4 }}
  ports:
    - name: http
      port: {{ $ctx.Values.service.port }}
      targetPort: http
      protocol: TCP
{{- end -}}
