-- Jobs, their results, and the replicas that share them.
CREATE TABLE jobs (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    request     JSONB NOT NULL,
    run_id      TEXT,
    owner       TEXT,
    created_ms  BIGINT NOT NULL,
    started_ms  BIGINT,
    finished_ms BIGINT,
    error       TEXT,
    summary     JSONB,
    attempts    INTEGER NOT NULL,
    callback    JSONB
);
CREATE INDEX jobs_status ON jobs (status, seq);
CREATE INDEX jobs_namespace ON jobs ((request -> 'target' ->> 'namespace'), seq);

CREATE TABLE results (
    job_id   TEXT NOT NULL,
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    body     BYTEA NOT NULL,
    PRIMARY KEY (job_id, position)
);

-- One row per running `kscan serve`: its lease runs out at expires_at
-- unless it renews it. Times are the database's, so replicas' clocks do
-- not matter.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
