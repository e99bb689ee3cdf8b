-- +goose Up
-- Leases and nodes are for several servers on one Postgres database
-- (migrations/postgres/00003_cluster.sql). The embedded store is one
-- process: nothing to add, but the number is kept in step.
SELECT 1;

-- +goose Down
SELECT 1;
