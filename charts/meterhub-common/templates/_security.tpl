{{/*
The hardening every Meterhub pod gets. It is not configurable on purpose: the images run as the
numeric UID 10001, write only to /tmp (an emptyDir) and need no Linux capability, since every
port they listen on is above 1024.
*/}}
{{- define "meterhub-common.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
# Mounted Secrets and the FTPS volume become group-readable by the app through fsGroup.
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "meterhub-common.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
checkov exceptions, kept next to the values that cause them. Each entry of .Values.checkovSkips
is {id, reason}; checkov reads them back from the checkov.io/skipN annotations of the object.
*/}}
{{- define "meterhub-common.checkovAnnotations" -}}
{{- range $i, $skip := .Values.checkovSkips }}
{{- if not $skip.reason }}
{{- fail (printf "checkovSkips[%d] (%s) needs a reason" $i $skip.id) }}
{{- end }}
{{- if contains "=" $skip.reason }}
{{- fail (printf "checkovSkips[%d] (%s): checkov splits the annotation at \"=\", so the reason cannot contain one" $i $skip.id) }}
{{- end }}
checkov.io/skip{{ add1 $i }}: {{ printf "%s=%s" $skip.id $skip.reason | quote }}
{{- end }}
{{- end -}}

{{/* /tmp is the only writable path of the image; its size is capped so a runaway upload cannot fill the node. */}}
{{- define "meterhub-common.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit | quote }}
{{- end -}}
