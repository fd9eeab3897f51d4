-- What --watch queued (so a container is scanned once, whichever replica
-- leads), and settings every replica reads the same.
CREATE TABLE watch_seen (
    uid       TEXT NOT NULL,
    container TEXT NOT NULL,
    digest    TEXT NOT NULL,
    seen_ms   BIGINT NOT NULL,
    PRIMARY KEY (uid, container, digest)
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
