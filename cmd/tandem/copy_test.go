package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/ot"
	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/postgres/pgtest"
	"tandem/store/sqlite"
)

// The bulk part of TestMigrateCopy's source: bulkDocs documents written
// with SQL, every bulkLongEvery-th of them with bulkLongOps operations (and
// so a snapshot past version 0), the others with a few.
const (
	bulkDocs      = 2000
	bulkLongEvery = 100
	bulkLongOps   = 230
)

// TestMigrateCopy fills an embedded store through a real server (accounts,
// a token, a shared document, an invitation, hundreds of ops through the
// store with snapshots, unicode) and with thousands of documents written in
// one SQL transaction, copies it into Postgres, and checks that nothing is
// lost: every table's count, every document at head, older versions, op ids
// and authors, password and token hashes, and that the old password and the
// old token work on a server on the copy.
func TestMigrateCopy(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	ctx := context.Background()
	cfg := testConfig(t, "sqlite")
	srv := startServer(t, cfg)
	src := srv.backend.store

	ann, annU := signup(t, srv, "Ann@Example.com")
	bob, bobU := signup(t, srv, "bob@example.com")
	prog, secret := tokenClient(t, srv, ann)
	prog.want(prog.do("GET", "/api/me", nil), 200, "", "token before the copy")

	var emoji docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": "Ünïcødé 🎉 notes", "content": "héllo 👋🏽 wörld\n"})
	ann.want(r, 201, "", "create the emoji document")
	r.json(t, &emoji)
	ann.want(ann.do("PUT", "/api/docs/"+emoji.ID+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}), 202, "", "share with bob")
	bob.want(bob.do("POST", "/api/invitations/"+emoji.ID+"/accept", nil), 200, "", "bob accepts")
	ann.want(ann.do("PUT", "/api/docs/"+emoji.ID+"/members", map[string]string{"email": "Zed@Example.com", "role": "viewer"}), 202, "", "invite zed")
	app, err := src.CreateApp(ctx, store.NewApp{Name: "Wiki", Secret: "app-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AppUser(ctx, app.ID, "user-1", "Ulla"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.SetWebhook(ctx, app.ID, "https://wiki.example/hook", "whsec_copied"); err != nil {
		t.Fatal(err)
	}

	// Hundreds of real ops through the store, by two authors, in batches as
	// the sequencer writes them: inserts of multi-byte text and deletions.
	text := []rune("héllo 👋🏽 wörld\n")
	var history []string // history[v] is the text at version v
	history = append(history, string(text))
	const realOps = 340
	for v := 0; v < realOps; {
		var batch []store.NewOp
		for range 7 {
			if v == realOps {
				break
			}
			var op ot.Op
			if v%5 == 4 && len(text) > 3 {
				op = ot.Deletion(len(text), 1, 2)
				text = append(text[:1:1], text[3:]...)
			} else {
				ins := []rune([]string{"ä", "🙂", "日本", "x", "\n"}[v%5])
				pos := (v * 7) % (len(text) + 1)
				op = ot.Insertion(len(text), pos, string(ins))
				text = append(text[:pos:pos], append(ins, text[pos:]...)...)
			}
			author := annU.ID
			if v%3 == 0 {
				author = bobU.ID
			}
			batch = append(batch, store.NewOp{ID: fmt.Sprintf("c%d-%d", v%3, v), UserID: author, Op: op})
			history = append(history, string(text))
			v++
		}
		head := int64(v - len(batch))
		if err := src.AppendOps(ctx, emoji.ID, head, batch); err != nil {
			t.Fatalf("append at %d: %v", head, err)
		}
	}

	saved, err := src.SaveVersion(ctx, store.NewNamedVersion{DocID: emoji.ID, Version: 100, Name: "hundred ✓", UserID: bobU.ID})
	if err != nil {
		t.Fatal(err)
	}

	bulkFill(t, srv.backend.sqlDB, annU.ID, bobU.ID)

	target := pgtest.Migrated(t)
	start := time.Now()
	code, out, errOut := tandem(t, "migrate", "copy", "--data-dir", cfg.db.dataDir, "--database-url", target)
	t.Logf("copy took %s:\n%s", time.Since(start), out)
	if code != 0 {
		t.Fatalf("copy: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("copy wrote to a stderr that is not a terminal: %q", errOut)
	}
	for _, want := range []string{"operations", "snapshots", "sessions were not copied"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	dst, err := postgres.Open(ctx, target, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	// Every table, counted on both sides, and as many rows as were made.
	wantDocs := int64(bulkDocs + 1)
	srcCounts, err := countSQLite(ctx, srv.backend.sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	dstCounts, err := countRows(ctx, dst.Pool())
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range srcCounts {
		if c.rows != dstCounts[i].rows {
			t.Errorf("%s: %d rows in the source, %d in the copy", c.table, c.rows, dstCounts[i].rows)
		}
		if c.table == "documents" && c.rows != wantDocs {
			t.Errorf("documents: %d, want %d", c.rows, wantDocs)
		}
		if c.rows == 0 {
			t.Errorf("%s: no rows in the source: the test copies nothing of it", c.table)
		}
	}

	// Every document, at head, from both stores.
	ids, err := documentIDs(ctx, srv.backend.sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if why, err := compareDocument(ctx, src, dst, id); err != nil || why != "" {
			t.Fatalf("document %s: %v %s", id, err, why)
		}
	}

	// The emoji document: content at older versions, and its history with
	// ids, authors and times.
	for _, v := range []int64{0, 1, 99, 100, 101, 250, realOps} {
		c, err := dst.ContentAt(ctx, emoji.ID, v)
		if err != nil || c.Text != history[v] {
			t.Errorf("emoji document at %d: %q, %v; want %q", v, c.Text, err, history[v])
		}
	}
	if named, err := dst.NamedVersions(ctx, emoji.ID); err != nil || len(named) != 1 || named[0].ID != saved.ID ||
		named[0].Version != 100 || named[0].Name != saved.Name || named[0].UserName != bobU.Name || !named[0].CreatedAt.Equal(saved.CreatedAt) {
		t.Errorf("named versions in the copy: %+v, %v; want %+v", named, err, saved)
	}
	srcOps, err := src.Ops(ctx, emoji.ID, 1, realOps, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	dstOps, err := dst.Ops(ctx, emoji.ID, 1, realOps, store.Page{})
	if err != nil || len(dstOps) != realOps || len(srcOps) != realOps {
		t.Fatalf("ops: %d in the source, %d in the copy, %v", len(srcOps), len(dstOps), err)
	}
	for i, s := range srcOps {
		d := dstOps[i]
		if s.Version != d.Version || s.ID != d.ID || s.UserID != d.UserID || s.Op.String() != d.Op.String() || !s.Time.Equal(d.Time) {
			t.Fatalf("op %d: %+v in the source, %+v in the copy", i+1, s, d)
		}
	}
	if dstOps[0].UserID != bobU.ID || dstOps[0].ID != "c0-0" || dstOps[1].UserID != annU.ID {
		t.Errorf("first ops' authors and ids: %+v %+v", dstOps[0], dstOps[1])
	}

	// A long bulk document, around its snapshot.
	long := bulkID(0)
	for _, v := range []int64{0, 99, 100, 101, 200, bulkLongOps} {
		s, err1 := src.ContentAt(ctx, long, v)
		d, err2 := dst.ContentAt(ctx, long, v)
		if err1 != nil || err2 != nil || s.Text != d.Text || d.Text != bulkText(0, int(v)) {
			t.Errorf("%s at %d: %q %v, copy %q %v", long, v, s.Text, err1, d.Text, err2)
		}
	}

	// Hashes byte for byte, and the rest of each account and token.
	for _, q := range []string{
		`SELECT id || ' ' || email || ' ' || email_key || ' ' || name || ' ' || password_hash FROM users ORDER BY id`,
		`SELECT id || ' ' || user_id || ' ' || name || ' ' || hex(hash) FROM api_tokens ORDER BY id`,
		`SELECT doc_id || ' ' || email || ' ' || role || ' ' || invited_by FROM invitations ORDER BY doc_id, email`,
		`SELECT id || ' ' || name || ' ' || secret || ' ' || user_id FROM apps ORDER BY id`,
		`SELECT app_id || ' ' || subject || ' ' || user_id FROM app_users ORDER BY app_id, subject`,
	} {
		want := sqliteStrings(t, srv.backend.sqlDB, q)
		got := pgStrings(t, dst, strings.Replace(q, "hex(hash)", "upper(encode(hash, 'hex'))", 1))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\nsource %q\ncopy   %q", q, want, got)
		}
	}
	for _, u := range []string{annU.ID, bobU.ID} {
		s, err1 := src.User(ctx, u)
		d, err2 := dst.User(ctx, u)
		if err1 != nil || err2 != nil || s.Email != d.Email || !s.CreatedAt.Equal(d.CreatedAt) {
			t.Errorf("user %s: %+v %v, copy %+v %v", u, s, err1, d, err2)
		}
	}
	if toks, err := dst.ListTokens(ctx, annU.ID); err != nil || len(toks) != 1 {
		t.Errorf("ann's tokens in the copy: %+v %v", toks, err)
	}
	if inv, err := dst.ListInvitations(ctx, emoji.ID); err != nil || len(inv) != 1 || inv[0].Email != "zed@example.com" {
		t.Errorf("invitations in the copy: %+v %v", inv, err)
	}

	// A server on the copy: the old password signs in, the old token works,
	// bob is still an editor.
	pcfg := testConfig(t, "postgres")
	pcfg.db.url = target
	psrv := startServer(t, pcfg)
	annAgain := newClient(t, psrv)
	annAgain.want(annAgain.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "correct horse"}), 200, "", "sign in on the copy")
	r = annAgain.do("GET", "/api/docs/"+emoji.ID+"/content", nil)
	annAgain.want(r, 200, "", "content on the copy")
	var content struct {
		Version int64  `json:"version"`
		Content string `json:"content"`
	}
	r.json(t, &content)
	if content.Version != realOps || content.Content != history[realOps] {
		t.Errorf("content on the copy: %+v", content)
	}
	tok := newClient(t, psrv)
	tok.http.Jar = nil
	tok.token = secret
	r = tok.do("GET", "/api/me", nil)
	tok.want(r, 200, "", "the old token on the copy")
	var me userBody
	r.json(t, &me)
	if me.User.ID != annU.ID {
		t.Errorf("the token is %s's, want ann's %s", me.User.ID, annU.ID)
	}
	bobAgain := newClient(t, psrv)
	bobAgain.want(bobAgain.do("POST", "/api/login", map[string]string{"email": "bob@example.com", "password": "correct horse"}), 200, "", "bob signs in on the copy")
	r = bobAgain.do("GET", "/api/docs/"+emoji.ID, nil)
	bobAgain.want(r, 200, "", "bob opens the shared document")
	var d docBody
	r.json(t, &d)
	if d.Role != store.RoleEditor || d.Title != "Ünïcødé 🎉 notes" {
		t.Errorf("bob sees %+v", d)
	}

	// A second copy into the now full database is refused.
	code, _, errOut = tandem(t, "migrate", "copy", "--data-dir", cfg.db.dataDir, "--database-url", target)
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("copy again: exit %d, %q", code, errOut)
	}

	// The check finds a changed title, changed content and a missing row.
	from, err := (&dbFlags{dataDir: cfg.db.dataDir, snapshotEvery: 100}).open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	to, err := (&dbFlags{url: target, snapshotEvery: 100}).open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer to.Close()
	quiet := newProgress(io.Discard)
	for _, q := range []string{
		`UPDATE documents SET title = 'changed' WHERE id = 'bulk-0001'`,
		`UPDATE snapshots SET content = upper(content) WHERE doc_id = 'bulk-0002' AND version = 0`,
	} {
		if _, err := dst.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err = verifyCopy(ctx, from, to, dst.Pool(), srcCounts, quiet)
	for _, want := range []string{"2 of 2001 documents differ", `bulk-0001: title "Bulk 1" in the source, "changed" in the target`, "bulk-0002: content at head"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("verify a changed copy: %v; want %q", err, want)
		}
	}
	if _, err := dst.Pool().Exec(ctx, `DELETE FROM invitations`); err != nil {
		t.Fatal(err)
	}
	_, err = verifyCopy(ctx, from, to, dst.Pool(), srcCounts, quiet)
	if err == nil || !strings.Contains(err.Error(), "invitations: 1 in the source, 0 in the target") {
		t.Errorf("verify a copy with a row missing: %v", err)
	}
}

func bulkID(i int) string { return fmt.Sprintf("bulk-%04d", i) }

// bulkText is bulk document i's text at version v: each op appends "ab".
func bulkText(i, v int) string { return fmt.Sprintf("document %d\n", i) + strings.Repeat("ab", v) }

// bulkOps is how many ops bulk document i has.
func bulkOps(i int) int {
	if i%bulkLongEvery == 0 {
		return bulkLongOps
	}
	return i % 4
}

// bulkFill writes bulkDocs documents owned by owner, every third shared
// with editor, with their ops and snapshots, in one transaction, as the
// store would have written them.
func bulkFill(t *testing.T, db *sql.DB, owner, editor string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmts := map[string]string{
		"doc":    `INSERT INTO documents (id, title, version, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"member": `INSERT INTO members (doc_id, user_id, role) VALUES (?, ?, ?)`,
		"op":     `INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"snap":   `INSERT INTO snapshots (doc_id, version, content, created_at) VALUES (?, ?, ?, ?)`,
	}
	prepared := map[string]*sql.Stmt{}
	for k, q := range stmts {
		if prepared[k], err = tx.PrepareContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(k string, args ...any) {
		if _, err := prepared[k].ExecContext(ctx, args...); err != nil {
			t.Fatalf("%s %v: %v", k, args[:2], err)
		}
	}
	now := time.Now().UnixMilli()
	for i := range bulkDocs {
		id, n := bulkID(i), bulkOps(i)
		created := now - int64(i)*1000
		exec("doc", id, fmt.Sprintf("Bulk %d", i), n, owner, created, created+int64(n))
		exec("member", id, owner, "owner")
		if i%3 == 0 {
			exec("member", id, editor, "editor")
		}
		exec("snap", id, 0, bulkText(i, 0), created)
		for v := 1; v <= n; v++ {
			op := ot.Insertion(len(bulkText(i, v-1)), len(bulkText(i, v-1)), "ab")
			exec("op", id, v, fmt.Sprintf("op%d", v), owner, op.String(), created+int64(v))
			if v%store.DefaultSnapshotEvery == 0 {
				exec("snap", id, v, bulkText(i, v), created+int64(v))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func sqliteStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func pgStrings(t *testing.T, db *postgres.DB, q string) []string {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// newSource makes a migrated embedded store with one account and returns
// its data directory.
func newSource(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errOut := tandem(t, "migrate", "up", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate up: %s", errOut)
	}
	db, err := sqlite.Open(context.Background(), dir, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.CreateUser(context.Background(), store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMigrateCopyRefuses: a target that holds an account, or that is not
// migrated, or a source that is behind, is refused, and the target is left
// as it was.
func TestMigrateCopyRefuses(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	ctx := context.Background()
	dir := newSource(t)

	full := pgtest.Migrated(t)
	db, err := postgres.Open(ctx, full, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bea, err := db.CreateUser(ctx, store.NewUser{Email: "bea@example.com", Name: "Bea", PasswordHash: "y"})
	if err != nil {
		t.Fatal(err)
	}
	before := pgStrings(t, db, `SELECT id || email FROM users`)
	code, out, errOut := tandem(t, "migrate", "copy", "--data-dir", dir, "--database-url", full)
	if code != 1 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "nothing was changed") || out != "" {
		t.Errorf("copy into a database with an account: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if after := pgStrings(t, db, `SELECT id || email FROM users`); len(after) != 1 || after[0] != before[0] || !strings.HasPrefix(after[0], bea.ID) {
		t.Errorf("users after the refused copy: %q, before %q", after, before)
	}
	counts, err := countRows(ctx, db.Pool())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.table != "users" && c.rows != 0 {
			t.Errorf("%s has %d rows after the refused copy", c.table, c.rows)
		}
	}

	bare := pgtest.Empty(t)
	code, _, errOut = tandem(t, "migrate", "copy", "--data-dir", dir, "--database-url", bare)
	if code != 1 || !strings.Contains(errOut, "tandem migrate up --database-url") {
		t.Errorf("copy into an unmigrated database: exit %d, %q", code, errOut)
	}

	if code, _, errOut := tandem(t, "migrate", "down", "--data-dir", dir); code != 0 {
		t.Fatal(errOut)
	}
	code, _, errOut = tandem(t, "migrate", "copy", "--data-dir", dir, "--database-url", pgtest.Migrated(t))
	if code != 1 || !strings.Contains(errOut, "tandem migrate up --data-dir "+dir) {
		t.Errorf("copy from a store that is behind: exit %d, %q", code, errOut)
	}
}

func TestMigrateCopyUsage(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	missing := filepath.Join(t.TempDir(), "none")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no target", []string{"migrate", "copy", "--data-dir", missing}, 2, "--database-url (the Postgres target) is required"},
		{"no source", []string{"migrate", "copy", "--data-dir", "", "--database-url", "postgres://x@127.0.0.1/x"}, 2, "--data-dir (the embedded store to copy) is required"},
		{"extra argument", []string{"migrate", "copy", "now", "--database-url", "postgres://x@127.0.0.1/x"}, 2, `unexpected argument "now"`},
		{"unknown flag", []string{"migrate", "copy", "--batch", "5"}, 2, "flag provided but not defined"},
		{"no store in the directory", []string{"migrate", "copy", "--data-dir", missing, "--database-url", "postgres://x@127.0.0.1/x"}, 1, "no embedded store to copy in --data-dir " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := tandem(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
	var buf bytes.Buffer
	code := run(context.Background(), []string{"migrate", "--help"}, strings.NewReader(""), &buf, &buf)
	if code != 0 || !strings.Contains(buf.String(), "migrate copy --data-dir DIR --database-url URL") {
		t.Errorf("migrate --help: exit %d, %q", code, buf.String())
	}
}

// TestMigrateCopyNUL: text written before U+0000 was refused, which
// Postgres text cannot hold, is copied as the stores read it (U+FFFD) in
// snapshots and ops; anywhere else it stops the copy with a clear message
// and nothing written.
func TestMigrateCopyNUL(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	ctx := context.Background()
	dir := newSource(t)
	src, err := sqlite.Open(ctx, dir, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ann, err := src.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO documents (id, title, version, created_by, created_at, updated_at) VALUES ('old', 'Old', 1, '` + ann.ID + `', 1, 2)`,
		`INSERT INTO snapshots (doc_id, version, content, created_at) VALUES ('old', 0, 'a' || char(0) || 'b', 1)`,
		`INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at) VALUES ('old', 1, 'o1', '` + ann.ID + `', '[3,"\u0000"]', 2)`,
	} {
		if _, err := src.SQLDB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	want, err := src.ContentAt(ctx, "old", 1)
	if err != nil || want.Text != "a\uFFFDb\uFFFD" {
		t.Fatalf("the source reads %q, %v", want.Text, err)
	}
	target := pgtest.Migrated(t)
	code, out, errOut := tandem(t, "migrate", "copy", "--data-dir", dir, "--database-url", target)
	if code != 0 {
		t.Fatalf("copy: exit %d: %s %s", code, out, errOut)
	}
	dst, err := postgres.Open(ctx, target, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for v, text := range []string{"a\uFFFDb", "a\uFFFDb\uFFFD"} {
		if got, err := dst.ContentAt(ctx, "old", int64(v)); err != nil || got.Text != text {
			t.Errorf("the copy at %d: %q, %v; want %q", v, got.Text, err, text)
		}
	}

	if _, err := src.SQLDB().ExecContext(ctx, `UPDATE documents SET title = 'O' || char(0) || 'ld'`); err != nil {
		t.Fatal(err)
	}
	target = pgtest.Migrated(t)
	code, _, errOut = tandem(t, "migrate", "copy", "--data-dir", dir, "--database-url", target)
	if code != 1 || !strings.Contains(errOut, "copy documents (nothing was committed; the target is unchanged): row 1 (id \"old\"): column title") {
		t.Errorf("copy a title with U+0000: exit %d, %q", code, errOut)
	}
	dst2, err := postgres.Open(ctx, target, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst2.Close()
	if n := pgStrings(t, dst2, `SELECT count(*)::text FROM users`); n[0] != "0" {
		t.Errorf("users after a failed copy: %s", n[0])
	}
}
