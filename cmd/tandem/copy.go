package main

// This file is `tandem migrate copy`: it moves everything in an embedded
// SQLite store into an empty, migrated Postgres database, then checks the
// result.
//
// The copy is raw SQL on both sides, table by table in foreign-key order,
// because the store interfaces make new ids and timestamps rather than take
// them. The source is read in one read transaction (one consistent view of
// the file, even if a server still writes to it) and the target is written
// in ONE transaction, in batches of at most copyBatchRows rows (or about
// copyBatchBytes bytes) sent with COPY. One transaction makes a failure, an
// interrupt or a count mismatch leave the target exactly as it was (empty),
// so the command can simply be run again; Postgres copes with a transaction
// of millions of rows. Only tables the command knows are copied: browser
// sessions are not (everyone signs in again), and tables the Postgres schema
// has beyond the store's (such as cluster bookkeeping) are left alone.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/sqlite"
)

// The batch bounds: a COPY is sent after this many rows, or sooner once the
// rows hold about this many bytes of text (snapshots can be large).
const (
	copyBatchRows  = 1000
	copyBatchBytes = 8 << 20
)

// errTargetNotEmpty is returned when the target already holds accounts or
// documents; nothing is written to it.
var errTargetNotEmpty = errors.New("the target database is not empty")

// columnKind says how a column's SQLite value becomes its Postgres value.
type columnKind int

const (
	textColumn     columnKind = iota // TEXT: valid UTF-8 without U+0000, as Postgres requires
	contentColumn                    // snapshot TEXT: U+0000 becomes U+FFFD, as both stores read it
	intColumn                        // INTEGER → BIGINT
	bytesColumn                      // BLOB → BYTEA
	timeColumn                       // INTEGER Unix milliseconds → TIMESTAMPTZ
	nullTimeColumn                   // the same, or NULL
	nullTextColumn                   // TEXT or NULL
)

type copyColumn struct {
	name string
	kind columnKind
}

// copyTable is one table that is copied, with the columns both dialects
// give it (migrations/*/00001_init.sql, 00002_invitations.sql, 00004_apps.sql,
// 00005_webhooks.sql and 00006_history.sql; the webhook delivery log is not
// copied, nor are the history summaries and blame checkpoints of 00006,
// which the target rebuilds from the operations when first asked).
type copyTable struct {
	name string
	cols []copyColumn
}

// copyTables are the tables copied, parents before children. Sessions are
// left out on purpose, and so are the webhook delivery log, socket tickets
// (which live for seconds) and the derived history tables (history_chunks,
// blame_checkpoints).
var copyTables = []copyTable{
	{"users", []copyColumn{{"id", textColumn}, {"email", textColumn}, {"email_key", textColumn},
		{"name", textColumn}, {"password_hash", textColumn}, {"created_at", timeColumn}}},
	{"api_tokens", []copyColumn{{"id", textColumn}, {"user_id", textColumn}, {"name", textColumn},
		{"hash", bytesColumn}, {"created_at", timeColumn}, {"last_used_at", nullTimeColumn}}},
	{"apps", []copyColumn{{"id", textColumn}, {"name", textColumn}, {"secret", textColumn},
		{"public_key", nullTextColumn}, {"user_id", textColumn}, {"created_at", timeColumn}, {"revoked_at", nullTimeColumn}}},
	{"app_users", []copyColumn{{"app_id", textColumn}, {"subject", textColumn}, {"user_id", textColumn}}},
	{"webhooks", []copyColumn{{"app_id", textColumn}, {"url", textColumn}, {"secret", textColumn}, {"created_at", timeColumn}}},
	{"documents", []copyColumn{{"id", textColumn}, {"title", textColumn}, {"version", intColumn},
		{"created_by", textColumn}, {"created_at", timeColumn}, {"updated_at", timeColumn}}},
	{"members", []copyColumn{{"doc_id", textColumn}, {"user_id", textColumn}, {"role", textColumn}}},
	{"invitations", []copyColumn{{"doc_id", textColumn}, {"email", textColumn}, {"role", textColumn},
		{"invited_by", textColumn}, {"created_at", timeColumn}}},
	{"operations", []copyColumn{{"doc_id", textColumn}, {"version", intColumn}, {"op_id", textColumn},
		{"user_id", textColumn}, {"op", textColumn}, {"created_at", timeColumn}}},
	{"snapshots", []copyColumn{{"doc_id", textColumn}, {"version", intColumn},
		{"content", contentColumn}, {"created_at", timeColumn}}},
	{"named_versions", []copyColumn{{"id", textColumn}, {"doc_id", textColumn}, {"version", intColumn},
		{"name", textColumn}, {"user_id", textColumn}, {"created_at", timeColumn}}},
}

func (t copyTable) names() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

// tableCount is a table's number of rows.
type tableCount struct {
	table string
	rows  int64
}

// copyCommand runs `tandem migrate copy`: the source is the embedded store
// in src.dataDir, the target the Postgres database at dst.url.
func copyCommand(ctx context.Context, src, dst dbFlags, stdout, stderr io.Writer) error {
	start := time.Now()
	if _, err := os.Stat(filepath.Join(src.dataDir, sqlite.FileName)); err != nil {
		return fmt.Errorf("no embedded store to copy in --data-dir %s: %w", src.dataDir, err)
	}
	from, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := dst.open(ctx)
	if err != nil {
		return err
	}
	defer to.Close()
	pg, ok := to.store.(*postgres.DB)
	if !ok {
		return fmt.Errorf("the target is not a Postgres store")
	}
	if err := checkSchemas(ctx, from, to, src.dataDir); err != nil {
		return err
	}

	prog := newProgress(stderr)
	counts, err := copyAll(ctx, from.sqlDB, pg.Pool(), prog)
	prog.done()
	if err != nil {
		return err
	}
	copied := time.Since(start)

	verifyStart := time.Now()
	final, err := verifyCopy(ctx, from, to, pg.Pool(), counts, prog)
	prog.done()
	writeCopySummary(stdout, src.dataDir, dst.url, final, copied, time.Since(verifyStart))
	if err != nil {
		return fmt.Errorf("the copy is committed, but it does not match the source: %w "+
			"(recreate the Postgres database, run `tandem migrate up --database-url ...` and copy again)", err)
	}
	return nil
}

// checkSchemas refuses a source or a target whose schema is not the latest
// this binary knows.
func checkSchemas(ctx context.Context, from, to *backend, dataDir string) error {
	m, err := from.migrator()
	if err != nil {
		return err
	}
	cur, latest, err := m.Versions(ctx)
	if err != nil {
		return fmt.Errorf("schema version of the embedded store: %w", err)
	}
	switch {
	case cur < latest:
		return fmt.Errorf("the embedded store in %s is at schema version %d, latest is %d: "+
			"run `tandem migrate up --data-dir %s` first", dataDir, cur, latest, dataDir)
	case cur > latest:
		return fmt.Errorf("the embedded store in %s is at schema version %d, newer than this tandem knows (%d): use the newer tandem", dataDir, cur, latest)
	}
	m, err = to.migrator()
	if err != nil {
		return err
	}
	cur, latest, err = m.Versions(ctx)
	if err != nil {
		return fmt.Errorf("schema version of the target: %w", err)
	}
	switch {
	case cur < latest:
		return fmt.Errorf("the target database is at schema version %d, latest is %d: "+
			"run `tandem migrate up --database-url ...` on it first", cur, latest)
	case cur > latest:
		return fmt.Errorf("the target database is at schema version %d, newer than this tandem knows (%d): use the newer tandem", cur, latest)
	}
	return nil
}

// copyAll copies every table of copyTables from the SQLite database src to
// the Postgres database dst, in one transaction on each side, and returns
// the source's row counts. Before writing it checks that dst holds no
// account and no document; after writing, before committing, that each
// table holds as many rows as the source's. On any error nothing is
// committed.
func copyAll(ctx context.Context, src *sql.DB, dst *pgxpool.Pool, prog *progress) ([]tableCount, error) {
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read the embedded store: %w", err)
	}
	defer stx.Rollback() //nolint:errcheck // read-only

	counts := make([]tableCount, len(copyTables))
	var total int64
	for i, t := range copyTables {
		counts[i].table = t.name
		if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&counts[i].rows); err != nil {
			return nil, fmt.Errorf("count %s in the embedded store: %w", t.name, err)
		}
		total += counts[i].rows
	}

	dtx, err := dst.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, fmt.Errorf("begin on the target: %w", err)
	}
	defer dtx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := checkEmpty(ctx, dtx); err != nil {
		return nil, err
	}

	prog.start("copying", total)
	for i, t := range copyTables {
		n, err := copyOneTable(ctx, stx, dtx, t, prog)
		if err != nil {
			return nil, fmt.Errorf("copy %s (nothing was committed; the target is unchanged): %w", t.name, err)
		}
		if n != counts[i].rows {
			return nil, fmt.Errorf("copy %s: read %d rows, counted %d (nothing was committed)", t.name, n, counts[i].rows)
		}
	}
	got, err := countRows(ctx, dtx)
	if err != nil {
		return nil, err
	}
	if err := compareCounts(counts, got); err != nil {
		return nil, fmt.Errorf("%w (nothing was committed)", err)
	}
	if err := dtx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit on the target (nothing was committed): %w", err)
	}
	return counts, nil
}

// checkEmpty returns errTargetNotEmpty if the target has a user or a
// document. It first locks both tables against writers until the
// transaction ends, so that nothing can slip in between.
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE users, documents IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock the target's tables: %w", err)
	}
	var users, docs int64
	err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM documents)`).Scan(&users, &docs)
	if err != nil {
		return fmt.Errorf("look into the target: %w", err)
	}
	if users > 0 || docs > 0 {
		return fmt.Errorf("%w: it has %d users and %d documents; copy only into a new database "+
			"(createdb, then `tandem migrate up --database-url ...`); nothing was changed", errTargetNotEmpty, users, docs)
	}
	return nil
}

// copyOneTable streams table t from src into dst, a COPY per batch, and
// returns how many rows it copied.
func copyOneTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, t copyTable, prog *progress) (int64, error) {
	names := t.names()
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+t.name)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()

	var (
		n     int64
		batch [][]any
		size  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := dst.CopyFrom(ctx, pgx.Identifier{t.name}, names, pgx.CopyFromRows(batch)); err != nil {
			return fmt.Errorf("write rows %d to %d: %w", n-int64(len(batch))+1, n, err)
		}
		prog.add(t.name, len(batch))
		batch, size = batch[:0], 0
		return nil
	}
	scan := make([]any, len(t.cols))
	for rows.Next() {
		row, bytes, err := scanRow(rows, t, scan)
		if err != nil {
			if id, ok := scan[0].(*string); ok { // an id, or a document's: name it
				return n, fmt.Errorf("row %d (%s %q): %w", n+1, t.cols[0].name, *id, err)
			}
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		batch = append(batch, row)
		n++
		if size += bytes; len(batch) >= copyBatchRows || size >= copyBatchBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read: %w", err)
	}
	return n, flush()
}

// scanRow reads the current row of t and converts it to Postgres values;
// it also returns about how many bytes it holds. scan is scratch space of
// len(t.cols).
func scanRow(rows *sql.Rows, t copyTable, scan []any) ([]any, int, error) {
	for i, c := range t.cols {
		switch c.kind {
		case textColumn, contentColumn:
			scan[i] = new(string)
		case intColumn, timeColumn:
			scan[i] = new(int64)
		case nullTimeColumn:
			scan[i] = new(sql.NullInt64)
		case nullTextColumn:
			scan[i] = new(sql.NullString)
		case bytesColumn:
			scan[i] = new([]byte)
		}
	}
	if err := rows.Scan(scan...); err != nil {
		return nil, 0, err
	}
	out := make([]any, len(t.cols))
	size := 0
	for i, c := range t.cols {
		switch c.kind {
		case textColumn, contentColumn:
			s := *scan[i].(*string)
			if c.kind == contentColumn {
				s = strings.ReplaceAll(s, "\x00", "\uFFFD")
			}
			if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
				return nil, 0, fmt.Errorf("column %s holds %q, which is not text Postgres can store (U+0000 or invalid UTF-8)", c.name, clip(s, 40))
			}
			out[i], size = s, size+len(s)
		case intColumn:
			out[i] = *scan[i].(*int64)
		case timeColumn:
			out[i] = time.UnixMilli(*scan[i].(*int64)).UTC()
		case nullTimeColumn:
			if v := *scan[i].(*sql.NullInt64); v.Valid {
				out[i] = time.UnixMilli(v.Int64).UTC()
			}
		case nullTextColumn:
			if v := *scan[i].(*sql.NullString); v.Valid {
				out[i], size = v.String, size+len(v.String)
			}
		case bytesColumn:
			b := *scan[i].(*[]byte)
			out[i], size = b, size+len(b)
		}
	}
	return out, size, nil
}

// querierRow is what a pgx pool and transaction have in common, for counting.
type querierRow interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// countRows counts the rows of each table of copyTables in Postgres.
func countRows(ctx context.Context, q querierRow) ([]tableCount, error) {
	out := make([]tableCount, len(copyTables))
	for i, t := range copyTables {
		out[i].table = t.name
		if err := q.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&out[i].rows); err != nil {
			return nil, fmt.Errorf("count %s in the target: %w", t.name, err)
		}
	}
	return out, nil
}

// countSQLite counts the rows of each table of copyTables in the embedded
// store.
func countSQLite(ctx context.Context, db *sql.DB) ([]tableCount, error) {
	out := make([]tableCount, len(copyTables))
	for i, t := range copyTables {
		out[i].table = t.name
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&out[i].rows); err != nil {
			return nil, fmt.Errorf("count %s in the embedded store: %w", t.name, err)
		}
	}
	return out, nil
}

// compareCounts returns an error naming every table whose counts differ.
func compareCounts(source, target []tableCount) error {
	var diffs []string
	for i := range source {
		if source[i].rows != target[i].rows {
			diffs = append(diffs, fmt.Sprintf("%s: %d in the source, %d in the target", source[i].table, source[i].rows, target[i].rows))
		}
	}
	if diffs != nil {
		return fmt.Errorf("row counts differ: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// maxReported bounds how many differing documents an error lists.
const maxReported = 5

// verifyCopy checks the committed copy: every table's row count is the
// same on both sides (copied holds the counts at copy time; a source that
// has changed since, because a server wrote to it, fails here), and every
// document loads (store Load) with the same metadata and the same content
// at head from both. It returns the counts it found.
func verifyCopy(ctx context.Context, from, to *backend, pool *pgxpool.Pool, copied []tableCount, prog *progress) ([]tableCount, error) {
	srcCounts, err := countSQLite(ctx, from.sqlDB)
	if err != nil {
		return copied, err
	}
	dstCounts, err := countRows(ctx, pool)
	if err != nil {
		return copied, err
	}
	if err := compareCounts(copied, srcCounts); err != nil {
		return dstCounts, fmt.Errorf("the embedded store changed during the copy (stop the server first): %w", err)
	}
	if err := compareCounts(srcCounts, dstCounts); err != nil {
		return dstCounts, err
	}

	ids, err := documentIDs(ctx, from.sqlDB)
	if err != nil {
		return dstCounts, err
	}
	prog.start("verifying documents", int64(len(ids)))
	bad, err := compareDocuments(ctx, from.store, to.store, ids, prog)
	if err != nil {
		return dstCounts, err
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return dstCounts, fmt.Errorf("%d of %d documents differ: %s", len(bad), len(ids),
			strings.Join(bad[:min(len(bad), maxReported)], "; "))
	}
	return dstCounts, nil
}

// verifyWorkers is how many documents are compared at once: a load is
// mostly waiting for round trips, so a few overlap well.
const verifyWorkers = 4

// compareDocuments compares each document of ids in src and dst (see
// compareDocument), a few at a time, and returns how those that differ
// differ.
func compareDocuments(ctx context.Context, src, dst store.Store, ids []string, prog *progress) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan string)
	type result struct {
		why string
		err error
	}
	results := make(chan result)
	var wg sync.WaitGroup
	for range verifyWorkers {
		wg.Go(func() {
			for id := range todo {
				why, err := compareDocument(ctx, src, dst, id)
				results <- result{why, err}
			}
		})
	}
	go func() {
		defer close(todo)
		for _, id := range ids {
			select {
			case todo <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var bad []string
	var firstErr error
	for r := range results {
		switch {
		case r.err != nil && firstErr == nil:
			firstErr = r.err
			cancel()
		case r.why != "":
			bad = append(bad, r.why)
		}
		prog.add("documents", 1)
	}
	return bad, firstErr
}

// documentIDs lists the embedded store's document ids.
func documentIDs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM documents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list documents: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return ids, nil
}

// compareDocument loads document id from both stores and says how they
// differ ("" if they do not); failing to load on either side is a
// difference too. An error is returned only if ctx is done.
func compareDocument(ctx context.Context, src, dst store.Store, id string) (string, error) {
	sd, sc, serr := src.Load(ctx, id)
	td, tc, terr := dst.Load(ctx, id)
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	if serr != nil || terr != nil {
		return fmt.Sprintf("document %s: loads with error %v from the source and %v from the target", id, serr, terr), nil
	}
	var diffs []string
	differ := func(field string, a, b any) {
		diffs = append(diffs, fmt.Sprintf("%s %v in the source, %v in the target", field, a, b))
	}
	if sd.Title != td.Title {
		differ("title", strconv.Quote(sd.Title), strconv.Quote(td.Title))
	}
	if sd.Version != td.Version {
		differ("version", sd.Version, td.Version)
	}
	if sd.CreatedBy != td.CreatedBy {
		differ("created_by", sd.CreatedBy, td.CreatedBy)
	}
	if !sd.CreatedAt.Equal(td.CreatedAt) {
		differ("created_at", sd.CreatedAt, td.CreatedAt)
	}
	if !sd.UpdatedAt.Equal(td.UpdatedAt) {
		differ("updated_at", sd.UpdatedAt, td.UpdatedAt)
	}
	if sc.Version != tc.Version || sc.Text != tc.Text {
		differ("content at head (bytes, version)", fmt.Sprint(len(sc.Text), ", ", sc.Version), fmt.Sprint(len(tc.Text), ", ", tc.Version))
	}
	if diffs != nil {
		return fmt.Sprintf("document %s: %s", id, strings.Join(diffs, ", ")), nil
	}
	return "", nil
}

// writeCopySummary prints what was copied and how long it took.
func writeCopySummary(w io.Writer, dataDir, url string, counts []tableCount, copied, verified time.Duration) {
	target := "the target database"
	if cfg, err := pgx.ParseConfig(url); err == nil {
		target = fmt.Sprintf("postgres %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	}
	fmt.Fprintf(w, "copied the embedded store in %s to %s in %s (checked in %s)\n",
		dataDir, target, copied.Round(time.Millisecond), verified.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%d\n", c.table, c.rows)
	}
	tw.Flush()
	fmt.Fprintln(w, "browser sessions were not copied: everyone signs in again")
}
