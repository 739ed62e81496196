/** Row shapes from docs/data-model.md (only the columns the page reads). */

export const RUN_STATUSES = ['pending', 'running', 'completed', 'failed', 'skipped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const REQUEST_STATUSES = ['pending', 'processing', 'completed', 'cancelled', 'failed'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const PRIORITIES = ['low', 'normal', 'high'] as const;
export type Priority = (typeof PRIORITIES)[number];

export type RunSource = 'auto_daily' | 'manual' | 'decay_triggered';

export interface MetricSet {
  accuracy?: number | null;
  precision?: number | null;
  recall?: number | null;
  f1_score?: number | null;
}

export interface RunMetrics extends MetricSet {
  baseline?: MetricSet | null;
  holdout_size?: number | null;
  errors_fixed?: number | null;
  promoted?: boolean | null;
  promotion_reason?: string | null;
  model_version?: number | null;
  alerts?: { code: string; message: string }[] | null;
  training_seconds?: number | null;
  /** The promotion gate the runner evaluated (recorded since issue 12; older runs lack it). */
  gate?: { primary_metric?: string; min_delta?: number; guard_metrics?: Record<string, number>; balanced_guard?: Record<string, number>; paired_test?: string; confidence?: number } | null;
}

export interface RetrainingRun {
  id: string;
  source: RunSource | string;
  status: RunStatus | string;
  dataset_size: number;
  fine_tune_flag: boolean;
  metrics: RunMetrics | null;
  started_at: string | null;
  completed_at: string | null;
  log_url: string | null;
  error_message: string | null;
  triggered_by: string | null;
  created_at: string;
  request_id: string | null;
  model_version: number | null;
  skip_reason: string | null;
  heartbeat_at: string | null;
}

/** The rows the 7-day alert window needs. */
export type RunWindowRow = Pick<RetrainingRun, 'id' | 'status' | 'dataset_size' | 'created_at' | 'metrics'>;

export interface RetrainingRequest {
  id: string;
  requested_by: string;
  reason: string | null;
  priority: Priority | string;
  status: RequestStatus | string;
  created_at: string;
  processed_at: string | null;
  retraining_run_id: string | null;
  last_error: string | null;
}

export interface ModelVersion {
  version: number;
  status: string;
  estimator: string | null;
  sklearn_version: string | null;
  promoted_at: string | null;
  created_at: string;
}

export const RUN_COLUMNS =
  'id,source,status,dataset_size,fine_tune_flag,metrics,started_at,completed_at,log_url,' +
  'error_message,triggered_by,created_at,request_id,model_version,skip_reason,heartbeat_at';
export const RUN_WINDOW_COLUMNS = 'id,status,dataset_size,created_at,metrics';
export const REQUEST_COLUMNS =
  'id,requested_by,reason,priority,status,created_at,processed_at,retraining_run_id,last_error';
export const MODEL_VERSION_COLUMNS = 'version,status,estimator,sklearn_version,promoted_at,created_at';

export const REASON_MAX_LENGTH = 500;
