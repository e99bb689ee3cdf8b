package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// chunk is store.ActivityChunk in SQL.
var chunk = strconv.Itoa(store.ActivityChunk)

// missingChunksSQL reads a document's version and how many chunks of its
// history are summarised.
var missingChunksSQL = `SELECT d.version,
	(SELECT coalesce(max(c.chunk) + 1, 0) FROM history_chunks c WHERE c.doc_id = d.id)
FROM documents d WHERE d.id = $1`

// fillChunksSQL summarises the complete chunks after the last summarised
// one. Chunks are filled in order, in one statement each time, so the
// summarised ones are always 0 .. max(chunk); a concurrent fill of the same
// chunks writes nothing twice.
var fillChunksSQL = `WITH s AS (
	SELECT coalesce(max(chunk) + 1, 0) AS n FROM history_chunks WHERE doc_id = $1
), d AS (
	SELECT version / ` + chunk + ` AS complete FROM documents WHERE id = $1
)
INSERT INTO history_chunks (doc_id, chunk, user_id, ops, first_version, first_at, last_at)
SELECT o.doc_id, (o.version - 1) / ` + chunk + `, o.user_id, count(*), min(o.version), min(o.created_at), max(o.created_at)
FROM operations o, s, d
WHERE o.doc_id = $1 AND o.version > s.n * ` + chunk + ` AND o.version <= d.complete * ` + chunk + `
GROUP BY o.doc_id, (o.version - 1) / ` + chunk + `, o.user_id
ON CONFLICT DO NOTHING`

// Timeline implements store.Timelines. A history longer than
// store.ExactTimeline is read from the chunk summaries (about one row per
// chunk and author) and the operations after the last summarised chunk;
// missing summaries are written first, in one statement. A shorter one is
// read from the operations, grouped in the database.
func (db *DB) Timeline(ctx context.Context, docID string, buckets int) (int64, []store.Activity, error) {
	if err := store.CheckKeys(docID); err != nil {
		return 0, nil, fmt.Errorf("timeline: %w", err)
	}
	if buckets < 1 {
		return 0, nil, fmt.Errorf("%w: a timeline needs at least one bucket", store.ErrInvalid)
	}
	var version, summarised int64
	if err := db.pool.QueryRow(ctx, missingChunksSQL, docID).Scan(&version, &summarised); err != nil {
		return 0, nil, fmt.Errorf("timeline of document %s: %w", docID, translate(err))
	}
	if version/store.ActivityChunk > summarised && store.TimelineStep(version, buckets)%store.ActivityChunk == 0 {
		if _, err := db.pool.Exec(ctx, fillChunksSQL, docID); err != nil {
			return 0, nil, fmt.Errorf("summarise the history of document %s: %w", docID, translate(err))
		}
	}
	var head int64
	var out []store.Activity
	err := db.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		d, err := document(ctx, tx, docID)
		if err != nil {
			return err
		}
		head = d.Version
		step := store.TimelineStep(head, buckets)
		var rows []store.ActivityRow
		after := int64(0) // versions up to this are in rows already
		if step%store.ActivityChunk == 0 {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(chunk) + 1, 0) FROM history_chunks WHERE doc_id = $1`, docID).Scan(&n); err != nil {
				return err
			}
			rs, err := tx.Query(ctx, `SELECT chunk, user_id, ops, first_version, first_at, last_at
				FROM history_chunks WHERE doc_id = $1 AND chunk < $2`, docID, n)
			if err != nil {
				return err
			}
			if rows, err = collectActivity(rs, store.ActivityChunk, step); err != nil {
				return fmt.Errorf("chunk summaries: %w", err)
			}
			after = n * store.ActivityChunk
		}
		// What no chunk summarises, grouped by bucket in the database.
		div := step
		if step%store.ActivityChunk == 0 {
			div = store.ActivityChunk
		}
		rs, err := tx.Query(ctx, `SELECT (version - 1) / $3, user_id, count(*), min(version), min(created_at), max(created_at)
			FROM operations WHERE doc_id = $1 AND version > $2 AND version <= $4
			GROUP BY (version - 1) / $3, user_id`, docID, after, div, head)
		if err != nil {
			return err
		}
		tail, err := collectActivity(rs, div, step)
		if err != nil {
			return fmt.Errorf("recent operations: %w", err)
		}
		out = store.BuildTimeline(head, step, append(rows, tail...))
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("timeline of document %s: %w", docID, translate(err))
	}
	return head, out, nil
}

// collectActivity reads rows of (group, user, ops, first version, first
// time, last time), where group g holds versions g*div+1 .., into
// store.ActivityRows of buckets of step versions (step is a multiple of
// div).
func collectActivity(rs pgx.Rows, div, step int64) ([]store.ActivityRow, error) {
	return pgx.CollectRows(rs, func(r pgx.CollectableRow) (store.ActivityRow, error) {
		var a store.ActivityRow
		var group int64
		err := r.Scan(&group, &a.UserID, &a.Ops, &a.FirstVersion, &a.FirstAt, &a.LastAt)
		a.Bucket = group * div / step
		return a, err
	})
}
