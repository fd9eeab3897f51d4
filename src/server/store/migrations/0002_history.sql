-- Per-target history: one point per scanned container of a finished job,
-- keyed by its workload; and pruning of finished jobs by age.
CREATE TABLE target_runs (
    seq         BIGSERIAL PRIMARY KEY,
    job_id      TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    workload    TEXT NOT NULL,
    container   TEXT NOT NULL,
    pod         TEXT NOT NULL,
    finished_ms BIGINT NOT NULL,
    status      TEXT NOT NULL,
    passed      BIGINT NOT NULL,
    failed      BIGINT NOT NULL,
    skipped     BIGINT NOT NULL,
    error       BIGINT NOT NULL,
    no_impact   BIGINT NOT NULL,
    compliance  BIGINT NOT NULL
);
CREATE INDEX target_runs_target ON target_runs (namespace, workload, container, seq);
CREATE INDEX target_runs_job ON target_runs (job_id);
CREATE INDEX jobs_finished ON jobs (finished_ms);
