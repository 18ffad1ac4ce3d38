{{/*
The service Deployment. Usage:

  {{ include "meterhub-common.deployment" (dict "context" $) }}
  {{ include "meterhub-common.deployment" (dict "context" $ "extra" $extra) }}

$extra may hold "ports", "volumes" and "volumeMounts" lists the chart computes from its own
values (ftps-publisher adds its FTPS ports, the FTPS volume and the FTPS certificate).
*/}}
{{- define "meterhub-common.deployment" -}}
{{- $ctx := .context -}}
{{- $extra := .extra | default dict -}}
{{- include "meterhub-common.validate" $ctx -}}
{{- $fullname := include "meterhub-common.names.fullname" $ctx -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with (include "meterhub-common.checkovAnnotations" $ctx | trim) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- /* With an HPA the replica count belongs to the HPA; setting it here would reset it on every upgrade. */}}
  {{- if not $ctx.Values.autoscaling.enabled }}
  replicas: {{ $ctx.Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "meterhub-common.labels.selector" (dict "context" $ctx) | nindent 6 }}
  strategy:
    {{- toYaml $ctx.Values.updateStrategy | nindent 4 }}
  template:
    metadata:
      labels:
        {{- include "meterhub-common.labels.standard" (dict "context" $ctx) | nindent 8 }}
        {{- with $ctx.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- /* A settings change must restart the pods: envFrom is read only at container start. */}}
        checksum/config: {{ include "meterhub-common.configmap.data" (dict "context" $ctx "data" $extra.config) | sha256sum }}
        {{- with $ctx.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "meterhub-common.names.serviceAccount" $ctx }}
      {{- /* The services never call the Kubernetes API, so they get no token to steal. */}}
      automountServiceAccountToken: false
      {{- /* Docker-link style variables (INGEST_PORT=tcp://...) only pollute the settings namespace. */}}
      enableServiceLinks: false
      {{- with (include "meterhub-common.imagePullSecrets" $ctx) }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with $ctx.Values.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "meterhub-common.podSecurityContext" $ctx | nindent 8 }}
      {{- if $ctx.Values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $key := list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
        - topologyKey: {{ $key }}
          maxSkew: {{ $ctx.Values.topologySpread.maxSkew }}
          whenUnsatisfiable: {{ $ctx.Values.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "meterhub-common.labels.selector" (dict "context" $ctx) | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- with $ctx.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $ctx.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $ctx.Chart.Name }}
          image: {{ include "meterhub-common.image" $ctx | quote }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          {{- /* One worker per pod: replicas are the unit of scale, and the in-process job listeners and metrics assume one process. */}}
          command:
            - uvicorn
            - --factory
            - {{ printf "%s.main:create_app" $ctx.Values.app.package }}
            - --host
            - 0.0.0.0
            - --port
            - {{ include "meterhub-common.httpPort" $ctx | quote }}
            - --workers
            - "1"
            - --proxy-headers
          ports:
            - name: http
              containerPort: {{ include "meterhub-common.httpPort" $ctx }}
              protocol: TCP
            {{- with $extra.ports }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ $fullname }}
          env:
            {{- include "meterhub-common.secretEnv" $ctx | nindent 12 }}
          {{- include "meterhub-common.probes" $ctx | nindent 10 }}
          {{- if gt (int $ctx.Values.preStopSleepSeconds) 0 }}
          lifecycle:
            {{- /* Let the Ingress controller and kube-proxy drop the endpoint before the process stops accepting. */}}
            preStop:
              sleep:
                seconds: {{ $ctx.Values.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml (required "resources are required" $ctx.Values.resources) | nindent 12 }}
          securityContext:
            {{- include "meterhub-common.containerSecurityContext" $ctx | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: token-keys
              mountPath: {{ include "meterhub-common.tokenDir" $ctx }}
              readOnly: true
            {{- range $i, $file := $ctx.Values.secrets.files }}
            - name: {{ printf "secret-file-%d" $i }}
              mountPath: {{ required "secrets.files[].mountPath is required" $file.mountPath }}
              readOnly: true
            {{- end }}
            {{- with $extra.volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "meterhub-common.tmpVolume" $ctx | nindent 8 }}
        {{- include "meterhub-common.tokenVolume" $ctx | nindent 8 }}
        {{- range $i, $file := $ctx.Values.secrets.files }}
        - name: {{ printf "secret-file-%d" $i }}
          secret:
            secretName: {{ required "secrets.files[].name is required" $file.name }}
            defaultMode: 0440
            {{- with $file.items }}
            items:
              {{- toYaml . | nindent 14 }}
            {{- end }}
        {{- end }}
        {{- with $extra.volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{/*
Secrets reach the pod only by reference: DATABASE_URL and any secrets.env entry come from
existing Secrets, never from a value templated into the manifest.
*/}}
{{- define "meterhub-common.secretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.database.name | quote }}
      key: {{ .Values.secrets.database.key | quote }}
{{- range .Values.secrets.env }}
{{- if not (hasPrefix $.Values.app.envPrefix .env) }}
{{- fail (printf "secrets.env: %s must start with %s" .env $.Values.app.envPrefix) }}
{{- end }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.env[].name is required" .name | quote }}
      key: {{ required "secrets.env[].key is required" .key | quote }}
{{- end }}
{{- /* Each pod reports as its own instance, or the collector would merge the counters of replicas. */}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=meterhub,service.instance.id=$(POD_NAME),k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),deployment.environment.name=%s" .Values.app.environment | quote }}
{{- end -}}

{{/*
The token keys: the public key every service verifies with and, for usage-api only, the private
key it signs with, projected into one read-only directory from two separate Secrets so the
private key is never handed to a service that does not sign.
*/}}
{{- define "meterhub-common.tokenVolume" -}}
- name: token-keys
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .Values.secrets.tokenPublicKey.name | quote }}
          items:
            - key: {{ .Values.secrets.tokenPublicKey.key | quote }}
              path: public.pem
      {{- if .Values.secrets.tokenPrivateKey.name }}
      - secret:
          name: {{ .Values.secrets.tokenPrivateKey.name | quote }}
          items:
            - key: {{ .Values.secrets.tokenPrivateKey.key | quote }}
              path: private.pem
      {{- end }}
{{- end -}}

{{/*
Probes: the startup probe gives the process time to import and connect; liveness asks only
whether the process answers (/healthz), so a database outage never restarts pods; readiness
(/readyz) takes a pod out of the Service while the database is unreachable or migrations are not
at head.
*/}}
{{- define "meterhub-common.probes" -}}
{{- $probes := .Values.probes -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $probes.startup.periodSeconds }}
  timeoutSeconds: {{ $probes.startup.timeoutSeconds }}
  failureThreshold: {{ $probes.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ $probes.liveness.periodSeconds }}
  timeoutSeconds: {{ $probes.liveness.timeoutSeconds }}
  failureThreshold: {{ $probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ $probes.readiness.periodSeconds }}
  timeoutSeconds: {{ $probes.readiness.timeoutSeconds }}
  failureThreshold: {{ $probes.readiness.failureThreshold }}
{{- end -}}
