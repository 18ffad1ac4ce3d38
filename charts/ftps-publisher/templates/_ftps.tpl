{{/*
The FTPS side of ftps-publisher. The FTPS server runs inside the service's process, so one set
of values (.Values.ftps) feeds the process settings, the container ports, the LoadBalancer
Service and the NetworkPolicy: they cannot drift apart.
*/}}

{{- define "ftps-publisher.tlsDir" -}}/etc/meterhub/ftps-tls{{- end -}}

{{/* The passive ports as a list of integers, after checking the range. */}}
{{- define "ftps-publisher.passivePorts" -}}
{{- $start := int .Values.ftps.passivePorts.start -}}
{{- $end := int .Values.ftps.passivePorts.end -}}
{{- if or (lt $start 1024) (gt $end 65535) (lt $end $start) -}}
{{- fail (printf "ftps.passivePorts %d-%d must be an ascending range within 1024-65535" $start $end) -}}
{{- end -}}
{{- if eq (int .Values.ftps.port) $start -}}
{{- fail "ftps.port must lie outside ftps.passivePorts" -}}
{{- end -}}
{{- toJson (untilStep $start (int (add1 $end)) 1) -}}
{{- end -}}

{{/* MH_FTPS_* settings, merged into the ConfigMap. */}}
{{- define "ftps-publisher.settings" -}}
MH_FTPS_ROOT: {{ .Values.ftps.root | quote }}
MH_FTPS_PORT: {{ .Values.ftps.port | quote }}
MH_FTPS_PASSIVE_PORTS: {{ printf "%d-%d" (int .Values.ftps.passivePorts.start) (int .Values.ftps.passivePorts.end) | quote }}
MH_FTPS_TLS_CERT_FILE: {{ printf "%s/tls.crt" (include "ftps-publisher.tlsDir" .) | quote }}
MH_FTPS_TLS_KEY_FILE: {{ printf "%s/tls.key" (include "ftps-publisher.tlsDir" .) | quote }}
{{- with .Values.ftps.masqueradeAddress }}
{{- /* The address clients are told to open passive data connections to: the LoadBalancer's public IP. */}}
MH_FTPS_MASQUERADE_ADDRESS: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Ports, volumes and mounts the library's Deployment adds to the container. */}}
{{- define "ftps-publisher.podExtras" -}}
ports:
  - name: ftps
    containerPort: {{ int .Values.ftps.port }}
    protocol: TCP
  {{- range (include "ftps-publisher.passivePorts" . | fromJsonArray) }}
  - name: {{ printf "pasv-%d" (int .) }}
    containerPort: {{ int . }}
    protocol: TCP
  {{- end }}
volumeMounts:
  - name: ftps-files
    mountPath: {{ .Values.ftps.root | quote }}
  - name: ftps-tls
    mountPath: {{ include "ftps-publisher.tlsDir" . | quote }}
    readOnly: true
volumes:
  - name: ftps-files
    {{- if .Values.ftps.persistence.enabled }}
    persistentVolumeClaim:
      claimName: {{ .Values.ftps.persistence.existingClaim | default (include "meterhub-common.names.suffixed" (dict "context" . "suffix" "files")) | quote }}
    {{- else }}
    # Development only: files are lost with the pod.
    emptyDir:
      sizeLimit: {{ .Values.ftps.persistence.size | quote }}
    {{- end }}
  - name: ftps-tls
    secret:
      secretName: {{ required "ftps.tls.secretName is required: a kubernetes.io/tls Secret for the FTPS server" .Values.ftps.tls.secretName | quote }}
      defaultMode: 0440
      items:
        - key: tls.crt
          path: tls.crt
        - key: tls.key
          path: tls.key
config:
  {{- include "ftps-publisher.settings" . | nindent 2 }}
{{- end -}}

{{/*
NetworkPolicy ingress for FTPS: REPs connect from outside (through the LoadBalancer), and the
notifier's probes from inside. Pods are named by their labels: whether an ipBlock also covers
pod addresses is up to the network plugin.
*/}}
{{- define "ftps-publisher.ftpsIngress" -}}
{{- $ports := include "ftps-publisher.ftpsPolicyPorts" . -}}
- from:
    {{- range .Values.ftps.allowedSourceCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- $ports | nindent 4 }}
{{- with .Values.ftps.inClusterClients }}
- from:
    {{- range . }}
    - podSelector:
        matchLabels:
          {{- include "meterhub-common.labels.peer" (dict "name" .) | nindent 10 }}
    {{- end }}
  ports:
    {{- $ports | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "ftps-publisher.ftpsPolicyPorts" -}}
- port: {{ int .Values.ftps.port }}
  protocol: TCP
- port: {{ int .Values.ftps.passivePorts.start }}
  endPort: {{ int .Values.ftps.passivePorts.end }}
  protocol: TCP
{{- end -}}
