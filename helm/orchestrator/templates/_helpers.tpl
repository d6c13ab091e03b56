{{/* Names, labels and the pieces every orchestrator pod shares. */}}

{{- define "orchestrator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orchestrator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of one component's resources: (dict "ctx" $ "component" "scheduler") */}}
{{- define "orchestrator.componentName" -}}
{{- printf "%s-%s" (include "orchestrator.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orchestrator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource; with "component", also the component's. */}}
{{- define "orchestrator.labels" -}}
helm.sh/chart: {{ include "orchestrator.chart" .ctx }}
{{ include "orchestrator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: orchestrator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "orchestrator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orchestrator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "orchestrator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "orchestrator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "orchestrator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "orchestrator.isPostgres" -}}
{{- if eq .Values.database.type "postgresql" }}true{{ end }}
{{- end }}

{{/* With PostgreSQL the hook Job migrates before the pods start; with SQLite the scheduler's init container does (the file's volume exists only after the install). */}}
{{- define "orchestrator.migrationHook" -}}
{{- if and .Values.migrations.enabled (include "orchestrator.isPostgres" .) }}true{{ end }}
{{- end }}

{{- define "orchestrator.secretName" -}}
{{- default (include "orchestrator.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "orchestrator.homeClaimName" -}}
{{- default (include "orchestrator.componentName" (dict "ctx" . "component" "home")) .Values.home.persistence.existingClaim }}
{{- end }}

{{- define "orchestrator.dagsClaimName" -}}
{{- default (include "orchestrator.componentName" (dict "ctx" . "component" "dags")) .Values.dags.persistence.existingClaim }}
{{- end }}

{{/* The DAG folder as the scheduler and the workers see it. git-sync publishes the checkout as the symlink <mountPath>/repo. */}}
{{- define "orchestrator.dagsFolder" -}}
{{- $dags := .Values.dags }}
{{- if $dags.gitSync.enabled }}
{{- trimSuffix "/" (printf "%s/repo/%s" $dags.mountPath $dags.gitSync.subPath) }}
{{- else }}
{{- $dags.mountPath }}
{{- end }}
{{- end }}

{{- define "orchestrator.daskSchedulerAddress" -}}
{{- printf "tcp://%s:%d" (include "orchestrator.componentName" (dict "ctx" . "component" "dask-scheduler")) (int .Values.dask.scheduler.port) }}
{{- end }}

{{/* Hook annotations of what the migration Job reads (ConfigMap, Secret): they must exist before it runs. */}}
{{- define "orchestrator.preMigrationHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/* Settings that come from the chart itself; `config` may not set them again. */}}
{{- define "orchestrator.chartSettings" -}}
home dags_folder database_url dask_address dask_workers webui_host webui_port secret_key fernet_key
{{- end }}

{{/* Refuse values that would make a broken installation, with a message that says what to change. */}}
{{- define "orchestrator.validate" -}}
{{- $v := .Values }}
{{- if and (gt (int $v.scheduler.replicas) 1) (not (include "orchestrator.isPostgres" .)) }}
{{- fail (printf "scheduler.replicas is %d, but SQLite allows only one scheduler: set database.type=postgresql (with database.url or secrets.existingSecret) or scheduler.replicas=1" (int $v.scheduler.replicas)) }}
{{- end }}
{{- if include "orchestrator.isPostgres" . }}
{{- if and (not $v.database.url) (not $v.secrets.existingSecret) }}
{{- fail "database.type is postgresql: set database.url (postgresql+psycopg://USER:PASSWORD@HOST:5432/DB) or secrets.existingSecret (with the key database-url)" }}
{{- end }}
{{- if and $v.database.url (not (hasPrefix "postgresql" $v.database.url)) }}
{{- fail (printf "database.url must be a PostgreSQL URL (postgresql+psycopg://...) when database.type is postgresql, not %s" (regexReplaceAll "//[^@/]*@" $v.database.url "//***@")) }}
{{- end }}
{{- else if $v.database.url }}
{{- fail "database.url is set but database.type is sqlite: set database.type=postgresql, or leave database.url empty (SQLite lives in the home volume)" }}
{{- end }}
{{- if and $v.dags.gitSync.enabled $v.dags.persistence.enabled }}
{{- fail "dags.gitSync.enabled and dags.persistence.enabled are both true: choose one source of DAGs" }}
{{- end }}
{{- if and $v.dags.gitSync.enabled (not $v.dags.gitSync.repo) }}
{{- fail "dags.gitSync.enabled is true but dags.gitSync.repo is empty: name the repository to clone" }}
{{- end }}
{{- range $key, $_ := $v.config }}
{{- if has $key (splitList " " (include "orchestrator.chartSettings" $)) }}
{{- fail (printf "config.%s is set by the chart itself: use the value that sets it (database.url, secrets.*, dags.*, dask.*, webui.port, home.path)" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The configuration of an orchestrator container: ORCH_* from the ConfigMap, the keys from the Secret. */}}
{{- define "orchestrator.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "orchestrator.fullname" . }}
env:
  {{- if include "orchestrator.isPostgres" . }}
  - name: ORCH_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "orchestrator.secretName" . }}
        key: database-url
  {{- end }}
  - name: ORCH_SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "orchestrator.secretName" . }}
        key: secret-key
  - name: ORCH_FERNET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "orchestrator.secretName" . }}
        key: fernet-key
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Volumes of the scheduler and web UI pods: home (the SQLite claim or an emptyDir), /tmp, the probes. */}}
{{- define "orchestrator.homeVolumes" -}}
- name: home
  {{- if include "orchestrator.isPostgres" . }}
  emptyDir: {}
  {{- else }}
  persistentVolumeClaim:
    claimName: {{ include "orchestrator.homeClaimName" . }}
  {{- end }}
- name: tmp
  emptyDir: {}
- name: probes
  configMap:
    name: {{ include "orchestrator.componentName" (dict "ctx" . "component" "probes") }}
{{- end }}

{{- define "orchestrator.homeMounts" -}}
- name: home
  mountPath: {{ .Values.home.path }}
- name: tmp
  mountPath: /tmp
- name: probes
  mountPath: /opt/orchestrator/probes
  readOnly: true
{{- end }}

{{/* The DAG folder's volume: a claim, git-sync's emptyDir, or nothing (DAGs in the image). */}}
{{- define "orchestrator.dagsVolumes" -}}
{{- if .Values.dags.persistence.enabled }}
- name: dags
  persistentVolumeClaim:
    claimName: {{ include "orchestrator.dagsClaimName" . }}
    readOnly: true
{{- else if .Values.dags.gitSync.enabled }}
- name: dags
  emptyDir: {}
{{- end }}
{{- end }}

{{- define "orchestrator.dagsMounts" -}}
{{- if .Values.dags.persistence.enabled }}
- name: dags
  mountPath: {{ .Values.dags.mountPath }}
  readOnly: true
  {{- with .Values.dags.persistence.subPath }}
  subPath: {{ . }}
  {{- end }}
{{- else if .Values.dags.gitSync.enabled }}
- name: dags
  mountPath: {{ .Values.dags.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{/* git-sync: (dict "ctx" $ "oneTime" true) is the init container that clones before the main container starts; without it, the sidecar that keeps pulling. */}}
{{- define "orchestrator.gitSyncContainer" -}}
{{- $g := .ctx.Values.dags.gitSync }}
- name: {{ if .oneTime }}git-sync-init{{ else }}git-sync{{ end }}
  image: "{{ $g.image.repository }}:{{ $g.image.tag }}"
  imagePullPolicy: {{ $g.image.pullPolicy }}
  env:
    - name: GITSYNC_REPO
      value: {{ $g.repo | quote }}
    - name: GITSYNC_REF
      value: {{ $g.ref | quote }}
    - name: GITSYNC_ROOT
      value: {{ .ctx.Values.dags.mountPath | quote }}
    - name: GITSYNC_LINK
      value: repo
    - name: GITSYNC_DEPTH
      value: "1"
    - name: GITSYNC_PERIOD
      value: {{ $g.period | quote }}
    - name: GITSYNC_ONE_TIME
      value: {{ ternary "true" "false" (.oneTime | default false) | quote }}
  {{- with $g.credentialsSecret }}
  envFrom:
    - secretRef:
        name: {{ . }}
  {{- end }}
  {{- with $g.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: dags
      mountPath: {{ .ctx.Values.dags.mountPath }}
{{- end }}

{{/* Checksum of the ConfigMap, so that a changed setting rolls the pods. */}}
{{- define "orchestrator.configChecksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}

{{/* The pod-level fields every pod of the chart shares. */}}
{{- define "orchestrator.podCommon" -}}
serviceAccountName: {{ include "orchestrator.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
