package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"tandem/store"
)

// chunk is store.ActivityChunk in SQL.
var chunk = strconv.Itoa(store.ActivityChunk)

// missingChunksSQL reads a document's version and how many chunks of its
// history are summarised.
var missingChunksSQL = `SELECT d.version,
	(SELECT coalesce(max(c.chunk) + 1, 0) FROM history_chunks c WHERE c.doc_id = d.id)
FROM documents d WHERE d.id = ?`

// fillChunksSQL summarises the complete chunks after the last summarised
// one, in one statement, so the summarised ones are always 0 .. max(chunk).
var fillChunksSQL = `WITH s AS (
	SELECT coalesce(max(chunk) + 1, 0) AS n FROM history_chunks WHERE doc_id = ?1
), d AS (
	SELECT version / ` + chunk + ` AS complete FROM documents WHERE id = ?1
)
INSERT OR IGNORE INTO history_chunks (doc_id, chunk, user_id, ops, first_version, first_at, last_at)
SELECT o.doc_id, (o.version - 1) / ` + chunk + `, o.user_id, count(*), min(o.version), min(o.created_at), max(o.created_at)
FROM operations o, s, d
WHERE o.doc_id = ?1 AND o.version > s.n * ` + chunk + ` AND o.version <= d.complete * ` + chunk + `
GROUP BY o.doc_id, (o.version - 1) / ` + chunk + `, o.user_id`

// Timeline implements store.Timelines, as the Postgres store does: a
// history longer than store.ExactTimeline from the chunk summaries (written
// first, through the writer, if some are missing) and the operations after
// them; a shorter one from the operations, grouped in the database.
func (db *DB) Timeline(ctx context.Context, docID string, buckets int) (int64, []store.Activity, error) {
	if err := store.CheckKeys(docID); err != nil {
		return 0, nil, fmt.Errorf("timeline: %w", err)
	}
	if buckets < 1 {
		return 0, nil, fmt.Errorf("%w: a timeline needs at least one bucket", store.ErrInvalid)
	}
	var version, summarised int64
	if err := db.read.QueryRowContext(ctx, missingChunksSQL, docID).Scan(&version, &summarised); err != nil {
		return 0, nil, fmt.Errorf("timeline of document %s: %w", docID, translate(err))
	}
	if version/store.ActivityChunk > summarised && store.TimelineStep(version, buckets)%store.ActivityChunk == 0 {
		if _, err := db.write.ExecContext(ctx, fillChunksSQL, docID); err != nil {
			return 0, nil, fmt.Errorf("summarise the history of document %s: %w", docID, translate(err))
		}
	}
	var head int64
	var out []store.Activity
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
		d, err := document(ctx, tx, docID)
		if err != nil {
			return err
		}
		head = d.Version
		step := store.TimelineStep(head, buckets)
		var rows []store.ActivityRow
		after, div := int64(0), step // versions up to after are in rows already
		if step%store.ActivityChunk == 0 {
			var n int64
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(chunk) + 1, 0) FROM history_chunks WHERE doc_id = ?`, docID).Scan(&n); err != nil {
				return err
			}
			rs, err := tx.QueryContext(ctx, `SELECT chunk, user_id, ops, first_version, first_at, last_at
				FROM history_chunks WHERE doc_id = ? AND chunk < ?`, docID, n)
			if err != nil {
				return err
			}
			if rows, err = collectActivity(rs, store.ActivityChunk, step); err != nil {
				return fmt.Errorf("chunk summaries: %w", err)
			}
			after, div = n*store.ActivityChunk, store.ActivityChunk
		}
		// What no chunk summarises, grouped by bucket in the database.
		rs, err := tx.QueryContext(ctx, `SELECT (version - 1) / ?3, user_id, count(*), min(version), min(created_at), max(created_at)
			FROM operations WHERE doc_id = ?1 AND version > ?2 AND version <= ?4
			GROUP BY (version - 1) / ?3, user_id`, docID, after, div, head)
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
func collectActivity(rs *sql.Rows, div, step int64) ([]store.ActivityRow, error) {
	return collect(rs, func(r scanner) (store.ActivityRow, error) {
		var a store.ActivityRow
		var group, first, last int64
		err := r.Scan(&group, &a.UserID, &a.Ops, &a.FirstVersion, &first, &last)
		a.Bucket, a.FirstAt, a.LastAt = group*div/step, fromMillis(first), fromMillis(last)
		return a, err
	})
}

// blamePage is how many operations a blame reads at a time.
const blamePage = 1000

// Blame implements store.Timelines, as the Postgres store does: in one read
// transaction, the nearest checkpoint at or before version (or the text at
// version 0) and the operations after it, a page at a time; the
// checkpoints it passes are written through the writer as it goes.
func (db *DB) Blame(ctx context.Context, docID string, version int64) ([]store.Span, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("blame: %w", err)
	}
	var spans []store.Span
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
		d, err := document(ctx, tx, docID)
		if err != nil {
			return err
		}
		if version < 0 || version > d.Version {
			return fmt.Errorf("%w: version %d (document is at %d)", store.ErrNotFound, version, d.Version)
		}
		var from int64
		var stored string
		err = tx.QueryRowContext(ctx, `SELECT version, spans FROM blame_checkpoints WHERE doc_id = ? AND version <= ?
			ORDER BY version DESC LIMIT 1`, docID, version).Scan(&from, &stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			c, err := contentAt(ctx, tx, docID, 0)
			if err != nil {
				return fmt.Errorf("initial text: %w", err)
			}
			spans = store.InitialBlame(c.Text, d.CreatedBy)
		case err != nil:
			return err
		default:
			if spans, err = store.DecodeSpans(stored); err != nil {
				return fmt.Errorf("checkpoint %d: %w", from, err)
			}
		}
		for from < version {
			recs, err := ops(ctx, tx, docID, from+1, version, store.Page{Limit: blamePage})
			if err != nil {
				return fmt.Errorf("ops after %d: %w", from, err)
			}
			if len(recs) == 0 {
				return fmt.Errorf("%w: history ends at %d, before version %d", store.ErrNotFound, from, version)
			}
			var due []store.BlameCheckpoint
			if spans, due, err = store.ReplayBlame(spans, from, recs, db.snapshotEvery); err != nil {
				return err
			}
			from = recs[len(recs)-1].Version
			if err := db.saveCheckpoints(ctx, docID, due); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blame of document %s at %d: %w", docID, version, translate(err))
	}
	return spans, nil
}

// saveCheckpoints writes blame checkpoints, keeping any already there.
func (db *DB) saveCheckpoints(ctx context.Context, docID string, due []store.BlameCheckpoint) error {
	if len(due) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range due {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO blame_checkpoints (doc_id, version, spans) VALUES (?, ?, ?)`,
				docID, c.Version, store.EncodeSpans(c.Spans)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save blame checkpoints: %w", translate(err))
	}
	return nil
}
