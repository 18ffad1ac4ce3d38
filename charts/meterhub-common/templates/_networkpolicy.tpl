{{/*
Default-deny NetworkPolicy for the service's pods that opens exactly the paths of the
who-talks-to-whom table in docs/deployment.md. Usage:

  {{ include "meterhub-common.networkpolicy" (dict "context" $) }}
  {{ include "meterhub-common.networkpolicy" (dict "context" $ "ingress" $rules) }}

"ingress" adds rules the chart computes (ftps-publisher opens its FTPS ports to the internet).
Meterhub peers are matched by their chart name label in the same namespace, so releases can be
named freely. Kubelet probes are not subject to NetworkPolicy and need no rule.
*/}}
{{- define "meterhub-common.networkpolicy" -}}
{{- $ctx := .context -}}
{{- $np := $ctx.Values.networkPolicy -}}
{{- if $np.enabled -}}
{{- $httpPort := include "meterhub-common.httpPort" $ctx | int -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "meterhub-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "meterhub-common.labels.selector" (dict "context" $ctx) | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if $ctx.Values.ingress.enabled }}
    # HTTPS clients, through the Ingress controller.
    - from:
        - namespaceSelector:
            {{- toYaml $np.ingressController.namespaceSelector | nindent 12 }}
          {{- with $np.ingressController.podSelector }}
          podSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      ports:
        - port: {{ $httpPort }}
          protocol: TCP
    {{- end }}
    {{- with $np.httpClients }}
    # Meterhub services that call this one over HTTP.
    - from:
        {{- range . }}
        - podSelector:
            matchLabels:
              {{- include "meterhub-common.labels.peer" (dict "name" .) | nindent 14 }}
        {{- end }}
      ports:
        - port: {{ $httpPort }}
          protocol: TCP
    {{- end }}
    {{- with .ingress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $np.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    # Name resolution.
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
      {{- with $np.dns.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    # PostgreSQL (every service). An empty networkPolicy.database.to allows any address on the port.
    - ports:
        - port: {{ $np.database.port }}
          protocol: TCP
      {{- with $np.database.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- if $ctx.Values.otel.exporterEndpoint }}
    # OTLP export to the OpenTelemetry Collector.
    - ports:
        {{- toYaml $np.otlp.ports | nindent 8 }}
      {{- with $np.otlp.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- range $np.peers }}
    # Meterhub service {{ .name }}.
    - to:
        - podSelector:
            matchLabels:
              {{- include "meterhub-common.labels.peer" (dict "name" .name) | nindent 14 }}
      ports:
        {{- toYaml .ports | nindent 8 }}
    {{- end }}
    {{- range $name := keys ($np.externalEgress | default dict) | sortAlpha }}
    {{- $rule := get $np.externalEgress $name }}
    {{- if $rule.enabled }}
    # {{ $name }}{{ with $rule.description }}: {{ . }}{{ end }}
    - to:
        {{- range $rule.cidrs }}
        - ipBlock:
            cidr: {{ . }}
            {{- with $rule.except }}
            except:
              {{- toYaml . | nindent 14 }}
            {{- end }}
        {{- end }}
      ports:
        {{- toYaml $rule.ports | nindent 8 }}
    {{- end }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}
