-- Local development data, loaded by `supabase start` / `supabase db reset` after the
-- migrations. Never pushed to a hosted project (`supabase db push` ignores seed.sql).
--
-- Two users without passwords, analyst@ (ml_role viewer) and ops@ (ml_role operator);
-- sign in by creating your own user in Studio and granting it a role (docs/supabase-setup.md,
-- "Grant access"). A nightly
-- run that promoted v1, a skipped nightly run, a manual run that failed, and one pending
-- "Retrain Now" request.

insert into auth.users (id, instance_id, aud, role, email, raw_app_meta_data, raw_user_meta_data)
values
    ('6a1f7c52-2b4e-4c1d-9a57-0d6c1e0b1001', '00000000-0000-0000-0000-000000000000',
     'authenticated', 'authenticated', 'analyst@example.com',
     '{"provider": "email", "providers": ["email"], "ml_role": "viewer"}', '{}'),
    ('6a1f7c52-2b4e-4c1d-9a57-0d6c1e0b1002', '00000000-0000-0000-0000-000000000000',
     'authenticated', 'authenticated', 'ops@example.com',
     '{"provider": "email", "providers": ["email"], "ml_role": "operator"}', '{}');

insert into public.model_retraining_runs (
    id, source, dataset_size, fine_tune_flag, status, metrics, started_at, completed_at,
    log_url, run_date, as_of, heartbeat_at, model_version, runner
)
values (
    '0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2001', 'auto_daily', 214, true, 'completed',
    '{"accuracy": 0.874, "precision": 0.861, "recall": 0.852, "f1_score": 0.856,
      "baseline": null,
      "holdout_size": 1200, "errors_fixed": 131, "promoted": true,
      "promotion_reason": "first model: f1_score 0.856 on the holdout",
      "model_version": 1, "alerts": [], "error_counts": {"home_win": 71, "draw": 98, "away_win": 45},
      "replay_size": 400, "train_size": 614, "epochs": 5, "learning_rate": 0.001,
      "training_seconds": 41.7}',
    '2026-11-25 02:00:12+00', '2026-11-25 02:03:40+00',
    'training-logs/0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2001.log',
    '2026-11-25', '2026-11-25 02:00:00+00', '2026-11-25 02:03:38+00', 1, 'runner-1:4121'
);

insert into public.model_retraining_runs (
    id, source, dataset_size, status, started_at, completed_at, log_url, run_date, as_of,
    heartbeat_at, skip_reason, runner
)
values (
    '0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2002', 'auto_daily', 6, 'skipped',
    '2026-11-26 02:00:09+00', '2026-11-26 02:00:15+00',
    'training-logs/0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2002.log',
    '2026-11-26', '2026-11-26 02:00:00+00', '2026-11-26 02:00:14+00',
    'too few errors: 6 high-confidence errors in the last 7 days, need 10', 'runner-1:5310'
);

insert into public.model_retraining_runs (
    id, source, dataset_size, status, started_at, completed_at, error_message,
    triggered_by, run_date, as_of, heartbeat_at, runner
)
values (
    '0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2003', 'manual', 0, 'failed',
    '2026-11-26 15:10:02+00', '2026-11-26 15:10:05+00',
    'evaluation log ''evaluation_log.csv'' not found in bucket evaluation-logs',
    '6a1f7c52-2b4e-4c1d-9a57-0d6c1e0b1002', '2026-11-26', '2026-11-26 15:10:00+00',
    '2026-11-26 15:10:04+00', 'runner-1:6002'
);

insert into public.model_versions (
    status, sha256, size_bytes, sklearn_version, estimator, fine_tunable, metrics, run_id,
    note, promoted_at
)
values (
    'champion', '9f2c4e1a7b3d5f60812a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d', 5242880,
    '1.5.2', 'SGDClassifier', true,
    '{"accuracy": 0.874, "precision": 0.861, "recall": 0.852, "f1_score": 0.856}',
    '0b3e9d1e-8c55-4f0a-b1a4-5f0e2d7a2001', 'first nightly promotion',
    '2026-11-25 02:03:40+00'
);

insert into public.model_retraining_requests (id, requested_by, reason, priority, created_at)
values (
    '5c2d8f0a-3e6b-4a7d-8c1e-9b0f3a5d3001', '6a1f7c52-2b4e-4c1d-9a57-0d6c1e0b1001',
    'Draws mispredicted since the 2026-11-20 matchday; please retrain before the weekend', 'high', '2026-11-27 08:15:00+00'
);
