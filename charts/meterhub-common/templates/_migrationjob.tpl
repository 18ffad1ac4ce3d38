{{/*
The schema migration, as a Helm hook that runs before every install and upgrade of the chart
that carries it (ingest: its image contains libs/common and so the whole Alembic history).

- backoffLimit 0: meterhub-migrate holds a PostgreSQL advisory lock and a failed migration must
  be looked at, not retried blindly; Helm then fails the release and the old pods keep running.
- before-hook-creation: the last Job stays until the next release, so its logs can be read.
- The Job runs under its own ServiceAccount and NetworkPolicy, created as earlier hooks: on a
  first install nothing else of the release exists yet when the hook runs.

Usage: {{ include "meterhub-common.migrationJob" (dict "context" $) }}
*/}}
{{- define "meterhub-common.migrationJob" -}}
{{- $ctx := .context -}}
{{- $m := $ctx.Values.migrations -}}
{{- if $m.enabled -}}
{{- include "meterhub-common.validate" $ctx -}}
{{- $name := include "meterhub-common.names.suffixed" (dict "context" $ctx "suffix" "migrate") -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx "component" "migration") | nindent 4 }}
  annotations:
    {{- include "meterhub-common.migrationHookAnnotations" (dict "weight" -10) | nindent 4 }}
automountServiceAccountToken: false
{{- if $ctx.Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx "component" "migration") | nindent 4 }}
  annotations:
    {{- include "meterhub-common.migrationHookAnnotations" (dict "weight" -10) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "meterhub-common.labels.selector" (dict "context" $ctx "component" "migration") | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  # Nothing connects to the migration pod; it reaches DNS and PostgreSQL only.
  ingress: []
  egress:
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
      {{- with $ctx.Values.networkPolicy.dns.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    - ports:
        - port: {{ $ctx.Values.networkPolicy.database.port }}
          protocol: TCP
      {{- with $ctx.Values.networkPolicy.database.to }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx "component" "migration") | nindent 4 }}
  annotations:
    {{- include "meterhub-common.migrationHookAnnotations" (dict "weight" 0) | nindent 4 }}
    {{- with (include "meterhub-common.checkovAnnotations" $ctx | trim) }}
    {{- . | nindent 4 }}
    {{- end }}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $m.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "meterhub-common.labels.standard" (dict "context" $ctx "component" "migration") | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with (include "meterhub-common.imagePullSecrets" $ctx) }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "meterhub-common.podSecurityContext" $ctx | nindent 8 }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: migrate
          image: {{ include "meterhub-common.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command:
            {{- toYaml $m.command | nindent 12 }}
          env:
            {{- /* The schema owner may differ from the application role (row-level security needs that). */}}
            {{- $db := $m.database | default dict }}
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ $db.name | default $ctx.Values.secrets.database.name | quote }}
                  key: {{ $db.key | default $ctx.Values.secrets.database.key | quote }}
            - name: MH_ENVIRONMENT
              value: {{ $ctx.Values.app.environment | quote }}
          resources:
            {{- toYaml $m.resources | nindent 12 }}
          securityContext:
            {{- include "meterhub-common.containerSecurityContext" $ctx | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        {{- include "meterhub-common.tmpVolume" $ctx | nindent 8 }}
{{- end -}}
{{- end -}}

{{/* (dict "weight" N): lower weights run first. */}}
{{- define "meterhub-common.migrationHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}
