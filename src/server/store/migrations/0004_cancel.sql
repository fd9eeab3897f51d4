-- DELETE of a scan running on another replica: the owner reads the flag
-- and stops the scan (teardown runs).
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
