package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tandem/store"
)

// Appends are group-committed across documents: the committer goroutine
// takes every append waiting and sends them as one pipelined batch, which
// Postgres runs as one implicit transaction, so a thousand documents typing
// at once share round trips and WAL flushes instead of queueing for the
// pool's connections one commit each. An append whose statement fails (a
// re-sent op id, say) fails the whole batch; the batch is then sent again
// without it. Appends are sent in document order, so that two processes'
// batches take row locks in one order, and each batch has a deadline, so
// that one stuck statement cannot hold every document's commits for long.

// errRetry marks a batch that the database rolled back to break a
// deadlock (another transaction took the same rows in another order, a
// document's delete say): it is sent again as it was.
var errRetry = errors.New("retry the batch")

// Postgres error codes of a transaction rolled back to let another go on.
const (
	deadlockDetected     = "40P01"
	serializationFailure = "40001"
)

// groupTimeout bounds one batch.
const groupTimeout = 10 * time.Second

// maxGroup bounds the appends in one group commit.
const maxGroup = 256

// appendReq is one AppendOps waiting for the committer.
type appendReq struct {
	ctx               context.Context
	docID             string
	lease             *store.Lease // made under it; nil: none
	head              int64
	ids, users, wires []string
	snaps             []givenSnapshot // written in the same batch, after the ops
	done              chan error      // buffered: the committer never waits on it
}

// args are appendSQL's parameters for r, stored at now.
func (r appendReq) args(now time.Time) []any {
	var node *string
	var epoch int64
	if r.lease != nil {
		node, epoch = &r.lease.NodeID, r.lease.Epoch
	}
	return []any{r.docID, r.head, r.ids, r.users, r.wires, now, node, epoch}
}

// commit hands r to the committer and waits for its outcome.
func (db *DB) commit(r appendReq) error {
	r.done = make(chan error, 1)
	return db.committer.Do(r.ctx, r, r.done)
}

// commitGroup writes a group in one batch and answers each append.
func (db *DB) commitGroup(group []appendReq) {
	slices.SortFunc(group, func(a, b appendReq) int { return cmp.Compare(a.docID, b.docID) })
	errs := make([]error, len(group))
	live := make([]int, 0, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
		} else {
			live = append(live, i)
		}
	}
	for tries := 0; len(live) > 0; tries++ {
		failed, err := db.sendGroup(group, live, errs)
		if errors.Is(err, errRetry) && tries < 3 {
			continue // a deadlock or serialization failure: nothing stored, nobody's fault
		}
		if failed < 0 {
			break
		}
		// One append failed the batch: it has its answer; the others go again.
		errs[live[failed]] = err
		live = slices.Delete(live, failed, failed+1)
	}
	for i, r := range group {
		if errors.Is(errs[i], errNotStored) {
			// Why it was not stored takes queries of its own: not on the
			// committer, which the other documents wait for.
			go func() { r.done <- r.wrap(db.whyNotStored(context.Background(), r.docID, r.lease, r.users, r.ids)) }()
			continue
		}
		r.done <- r.wrap(errs[i])
	}
}

// wrap puts the append's context on err.
func (r appendReq) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("append %d ops to document %s at version %d: %w", len(r.ids), r.docID, r.head, err)
}

// sendGroup sends the live appends of group as one batch, which Postgres
// runs as one implicit transaction, and records each outcome in errs. If
// one append's statement failed, nothing was stored: it returns that
// append's index in live and its error (errNotStored when the op id or the
// version is taken); otherwise -1.
func (db *DB) sendGroup(group []appendReq, live []int, errs []error) (int, error) {
	batch := &pgx.Batch{}
	now := db.now()
	for _, i := range live {
		r := group[i]
		batch.Queue(appendSQL, r.args(now)...)
		for _, sn := range r.snaps {
			batch.Queue(givenSnapshotSQL, r.docID, sn.version, sn.text, now, sn.user, sn.authID)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	results := db.pool.SendBatch(ctx, batch)
	failed, failure := -1, error(nil)
	for k, i := range live {
		tag, err := results.Exec()
		for range group[i].snaps {
			// The append's snapshots: their failure is the append's.
			if _, serr := results.Exec(); err == nil && serr != nil {
				err = serr
			}
		}
		var pgErr *pgconn.PgError
		switch {
		case failed >= 0:
			// Skipped by the server after the failure.
		case isUnique(err, "operations_doc_id_user_id_op_id_key"), isUnique(err, "operations_pkey"):
			// A re-sent op id, or (another process writing) a taken version.
			failed, failure = k, errNotStored
		case errors.As(err, &pgErr) && (pgErr.Code == deadlockDetected || pgErr.Code == serializationFailure):
			failed, failure = k, fmt.Errorf("%w: %w", errRetry, err)
		case errors.As(err, &pgErr) && ctx.Err() == nil:
			// The server refused this append's statement: its own fault.
			failed, failure = k, translate(err)
		case err != nil:
			// Not a statement's fault (a lost connection, the deadline):
			// none of the group is stored.
			for _, j := range live {
				errs[j] = translate(err)
			}
			_ = results.Close()
			return -1, nil
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
