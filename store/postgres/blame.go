package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// blamePage is how many operations a blame reads at a time.
const blamePage = 1000

// Blame implements store.Timelines. It reads the nearest checkpoint at or
// before version (or the text at version 0) and the operations after it, a
// page at a time, and writes the checkpoints it passes as it goes, each
// page's in one statement. Each statement takes a connection of its own
// and gives it back: a blame holding one while it waits for another to
// write could, with as many blames as the pool has connections, wait
// forever. No transaction is needed for a consistent view: the history up
// to a version the document has reached never changes.
func (db *DB) Blame(ctx context.Context, docID string, version int64) ([]store.Span, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("blame: %w", err)
	}
	spans, err := db.blame(ctx, db.pool, docID, version)
	if err != nil {
		return nil, fmt.Errorf("blame of document %s at %d: %w", docID, version, translate(err))
	}
	return spans, nil
}

// blame is Blame, reading through q.
func (db *DB) blame(ctx context.Context, q querier, docID string, version int64) ([]store.Span, error) {
	var spans []store.Span
	d, err := document(ctx, q, docID)
	if err != nil {
		return nil, err
	}
	if version < 0 || version > d.Version {
		return nil, fmt.Errorf("%w: version %d (document is at %d)", store.ErrNotFound, version, d.Version)
	}
	var from int64
	var stored string
	err = q.QueryRow(ctx, `SELECT version, spans FROM blame_checkpoints WHERE doc_id = $1 AND version <= $2
		ORDER BY version DESC LIMIT 1`, docID, version).Scan(&from, &stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c, err := contentAt(ctx, q, docID, 0)
		if err != nil {
			return nil, fmt.Errorf("initial text: %w", err)
		}
		spans = store.InitialBlame(c.Text, d.CreatedBy)
	case err != nil:
		return nil, err
	default:
		if spans, err = store.DecodeSpans(stored); err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", from, err)
		}
	}
	for from < version {
		recs, err := ops(ctx, q, docID, from+1, version, store.Page{Limit: blamePage})
		if err != nil {
			return nil, fmt.Errorf("ops after %d: %w", from, err)
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("%w: history ends at %d, before version %d", store.ErrNotFound, from, version)
		}
		var due []store.BlameCheckpoint
		if spans, due, err = store.ReplayBlame(spans, from, recs, db.snapshotEvery); err != nil {
			return nil, err
		}
		from = recs[len(recs)-1].Version
		if err := db.saveCheckpoints(ctx, docID, due); err != nil {
			return nil, err
		}
	}
	return spans, nil
}

// saveCheckpoints writes blame checkpoints, keeping any already there.
func (db *DB) saveCheckpoints(ctx context.Context, docID string, due []store.BlameCheckpoint) error {
	if len(due) == 0 {
		return nil
	}
	versions := make([]int64, len(due))
	encoded := make([]string, len(due))
	for i, c := range due {
		versions[i], encoded[i] = c.Version, store.EncodeSpans(c.Spans)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO blame_checkpoints (doc_id, version, spans)
		SELECT $1, v, s FROM unnest($2::bigint[], $3::text[]) AS c(v, s)
		ON CONFLICT DO NOTHING`, docID, versions, encoded)
	if err != nil {
		return fmt.Errorf("save blame checkpoints: %w", translate(err))
	}
	return nil
}
