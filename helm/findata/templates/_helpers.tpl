{{/* Common labels of every object of this chart. */}}
{{- define "findata.labels" -}}
app.kubernetes.io/name: findata
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: findata
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/* The image (the same one the Dagster chart's code location runs). */}}
{{- define "findata.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* Environment variable names that are secrets: never in the ConfigMap. */}}
{{- define "findata.secretKeys" -}}
{{- list "FINDATA_DATABASE_URL" "FINDATA_S3_ENDPOINT" "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "DEEPSEEK_API_KEY" "FINDATA_ALERT_WEBHOOK" "FINDATA_MYSQL_ADMIN_URL" "FINDATA_S3_ADMIN_ACCESS_KEY_ID" "FINDATA_S3_ADMIN_SECRET_ACCESS_KEY" "DAGSTER_PG_PASSWORD" | toJson -}}
{{- end -}}
