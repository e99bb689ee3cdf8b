package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Appends are group-committed across documents: the committer goroutine
// takes every append waiting and sends them as one pipelined batch, which
// Postgres runs as one implicit transaction, so a thousand documents typing
// at once share round trips and WAL flushes instead of queueing for the
// pool's connections one commit each. An append that fails (a re-sent op id)
// fails the whole batch; the batch is then sent again without it.

// maxGroup bounds the appends in one group commit.
const maxGroup = 256

// appendReq is one AppendOps waiting for the committer.
type appendReq struct {
	ctx               context.Context
	docID             string
	head              int64
	ids, users, wires []string
	done              chan error
}

// args are appendSQL's parameters for r.
func (r appendReq) args(db *DB) []any {
	return []any{r.docID, r.head, r.ids, r.users, r.wires, db.now()}
}

// startCommitter starts the committer; Close stops it after it has written
// and answered everything handed to it.
func (db *DB) startCommitter() {
	db.appends = make(chan appendReq, maxGroup)
	db.closing = make(chan struct{})
	db.committerDone = make(chan struct{})
	go db.commitLoop()
}

// commit hands r to the committer and waits for its outcome.
func (db *DB) commit(r appendReq) error {
	r.done = make(chan error, 1)
	select {
	case db.appends <- r:
	case <-db.closing:
		return errors.New("store closed")
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
	// Once handed over, the append is seen through: its outcome is only
	// known when the commit is.
	return <-r.done
}

// commitLoop is the committer: it takes the appends that are waiting and
// writes them in one batch, until the store closes.
func (db *DB) commitLoop() {
	defer close(db.committerDone)
	group := make([]appendReq, 0, maxGroup)
	for {
		select {
		case r := <-db.appends:
			group = append(group[:0], r)
		case <-db.closing:
			// What was handed over is still written and answered.
			for {
				group = db.take(group[:0])
				if len(group) == 0 {
					return
				}
				db.commitGroup(group)
			}
		}
		db.commitGroup(db.take(group))
	}
}

// take adds to group the appends waiting, up to maxGroup.
func (db *DB) take(group []appendReq) []appendReq {
	for len(group) < maxGroup {
		select {
		case r := <-db.appends:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// commitGroup writes a group in one batch and answers each append.
func (db *DB) commitGroup(group []appendReq) {
	errs := make([]error, len(group))
	live := make([]int, 0, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
		} else {
			live = append(live, i)
		}
	}
	for len(live) > 0 {
		failed, err := db.sendGroup(group, live, errs)
		if failed < 0 {
			break
		}
		// One append failed the batch: it has its answer; the others go again.
		errs[live[failed]] = err
		live = append(live[:failed], live[failed+1:]...)
	}
	for i, r := range group {
		if errors.Is(errs[i], errNotStored) {
			// Diagnosed outside the batch, which a failure aborted.
			errs[i] = db.whyNotStored(context.Background(), r.docID, r.users, r.ids)
		}
		if errs[i] != nil {
			errs[i] = fmt.Errorf("append %d ops to document %s at version %d: %w", len(r.ids), r.docID, r.head, errs[i])
		}
		r.done <- errs[i]
	}
}

// sendGroup sends the live appends of group as one batch and records each
// outcome in errs. If one append's statement failed, nothing was stored: it
// returns that append's index in live, and its error (errNotStored for a
// re-sent op id); otherwise -1.
func (db *DB) sendGroup(group []appendReq, live []int, errs []error) (int, error) {
	batch := &pgx.Batch{}
	for _, i := range live {
		batch.Queue(appendSQL, group[i].args(db)...)
	}
	ctx := context.Background()
	results := db.pool.SendBatch(ctx, batch)
	failed, failure := -1, error(nil)
	for k, i := range live {
		tag, err := results.Exec()
		switch {
		case failed >= 0:
			// Skipped by the server after the failure.
		case isUnique(err, "operations_doc_id_user_id_op_id_key"), isUnique(err, "operations_pkey"):
			// A re-sent op id, or (another process writing) a taken version.
			failed, failure = k, errNotStored
		case err != nil:
			failed, failure = k, translate(err)
		case tag.RowsAffected() != int64(len(group[i].ids)):
			// The version moved, or the document is gone: nothing of this
			// append was written, and the others are not affected.
			errs[i] = errNotStored
		default:
			errs[i] = nil
		}
	}
	err := results.Close()
	if failed >= 0 {
		if !errors.Is(failure, errNotStored) {
			// Not this append's fault (a lost connection, say): none of
			// the group is known to be stored.
			for _, i := range live {
				errs[i] = failure
			}
			return -1, nil
		}
		return failed, failure
	}
	if err != nil {
		// The implicit commit failed: nothing is stored.
		for _, i := range live {
			errs[i] = fmt.Errorf("commit: %w", translate(err))
		}
	}
	return -1, nil
}
