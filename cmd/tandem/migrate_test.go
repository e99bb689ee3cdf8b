package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tandem/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// tandem runs the command line in-process and returns its exit code and output.
func tandem(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return tandemIn(t, "", args...)
}

// tandemIn is tandem with stdin.
func tandemIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMigratePostgres(t *testing.T) {
	url := pgtest.Empty(t)
	testMigrateSteps(t, "--database-url", url)

	// The environment variable works as the flag does.
	t.Setenv("TANDEM_DATABASE_URL", url)
	if code, out, errOut := tandem(t, "migrate", "status"); code != 0 || !strings.Contains(out, "applied") {
		t.Errorf("status from TANDEM_DATABASE_URL: exit %d, %q %q", code, out, errOut)
	}
}

func TestMigrateSQLite(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	dir := filepath.Join(t.TempDir(), "new", "data")
	testMigrateSteps(t, "--data-dir", dir)
	if _, err := os.Stat(filepath.Join(dir, "tandem.db")); err != nil {
		t.Errorf("the data directory was not created: %v", err)
	}
	t.Setenv("TANDEM_DATA_DIR", dir)
	if code, out, errOut := tandem(t, "migrate", "status"); code != 0 || !strings.Contains(out, "applied") {
		t.Errorf("status from TANDEM_DATA_DIR: exit %d, %q %q", code, out, errOut)
	}
}

// testMigrateSteps runs status, up, status, up, down, status, down, up on an
// empty database chosen by the flag and checks each output.
func testMigrateSteps(t *testing.T, flag, value string) {
	t.Helper()
	steps := []struct {
		args     []string
		wantOut  []string
		wantNot  []string
		wantCode int
	}{
		{[]string{"migrate", "status", flag, value}, []string{"00001_init.sql", "00002_invitations.sql", "00003_cluster.sql", "00004_apps.sql", "00005_webhooks.sql", "00006_history.sql", "00007_socket_tickets.sql", "pending"}, []string{"applied"}, 0},
		{[]string{"migrate", "up", flag, value}, []string{"applied 00001_init.sql", "applied 00002_invitations.sql", "applied 00003_cluster.sql", "applied 00004_apps.sql", "applied 00005_webhooks.sql", "applied 00006_history.sql", "applied 00007_socket_tickets.sql"}, nil, 0},
		{[]string{"migrate", flag, value, "status"}, []string{"00001_init.sql", "applied"}, []string{"pending"}, 0},
		{[]string{"migrate", "up", flag, value}, []string{"already up to date"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00007_socket_tickets.sql"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00006_history.sql"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00005_webhooks.sql"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00004_apps.sql"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00003_cluster.sql"}, nil, 0},
		{[]string{"migrate", "status", flag, value}, []string{"applied", "pending"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00002_invitations.sql"}, nil, 0},
		{[]string{"migrate", "down", flag, value}, []string{"rolled back 00001_init.sql"}, nil, 0},
		{[]string{"migrate", "status", flag, value}, []string{"pending"}, []string{"applied"}, 0},
		{[]string{"migrate", "down", flag, value}, []string{"nothing to roll back"}, nil, 0},
		{[]string{"migrate", "up", flag, value}, []string{"applied 00001_init.sql", "applied 00002_invitations.sql", "applied 00003_cluster.sql", "applied 00004_apps.sql", "applied 00005_webhooks.sql", "applied 00006_history.sql", "applied 00007_socket_tickets.sql"}, nil, 0},
	}
	for _, s := range steps {
		code, out, errOut := tandem(t, s.args...)
		if code != s.wantCode {
			t.Fatalf("tandem %s: exit %d, want %d; stderr: %s", strings.Join(s.args[:2], " "), code, s.wantCode, errOut)
		}
		for _, w := range s.wantOut {
			if !strings.Contains(out, w) {
				t.Errorf("tandem %s: output %q lacks %q", strings.Join(s.args, " "), out, w)
			}
		}
		for _, w := range s.wantNot {
			if strings.Contains(out, w) {
				t.Errorf("tandem %s: output %q has %q", strings.Join(s.args, " "), out, w)
			}
		}
	}

}

func TestMigrateErrors(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"fly"}, 2, `unknown command "fly"`},
		{"no subcommand", []string{"migrate"}, 2, "missing subcommand"},
		{"unknown subcommand", []string{"migrate", "sideways"}, 2, `unknown subcommand "sideways"`},
		{"unknown flag", []string{"migrate", "up", "--colour"}, 2, "flag provided but not defined"},
		{"bad down count", []string{"migrate", "down", "zero"}, 2, "positive integer"},
		{"up takes no argument", []string{"migrate", "up", "now"}, 2, "unexpected argument"},
		{"create needs a name", []string{"migrate", "create"}, 2, "want one NAME"},
		{"no database", []string{"migrate", "up", "--data-dir", ""}, 1, "set --database-url"},
		{"data dir is a file", []string{"migrate", "up", "--data-dir", "migrate_test.go"}, 1, "embedded store in migrate_test.go"},
		{"bad url", []string{"migrate", "up", "--database-url", "postgres://%zz"}, 1, "invalid --database-url"},
		{"unreachable", []string{"migrate", "up", "--database-url", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"}, 1, "cannot reach postgres at 127.0.0.1:1/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := tandem(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
	if code, out, _ := tandem(t, "migrate", "--help"); code != 0 || out != "" {
		t.Errorf("migrate --help: exit %d", code)
	}
}

func TestMigrateCreate(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"postgres", "sqlite"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "00007_old.sql"), []byte("-- +goose Up\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := tandem(t, "migrate", "create", "Add-Tags", "--dir", dir)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	for _, d := range []string{"postgres", "sqlite"} {
		path := filepath.Join(dir, d, "00008_add_tags.sql")
		body, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(body), "-- +goose Up") || !strings.Contains(string(body), "-- +goose Down") {
			t.Errorf("%s: %v %q", path, err, body)
		}
		if !strings.Contains(out, path) {
			t.Errorf("output %q does not name %s", out, path)
		}
	}
	if code, _, errOut := tandem(t, "migrate", "create", "add tags!", "--dir", dir); code != 1 || !strings.Contains(errOut, "letters, digits and underscores") {
		t.Errorf("bad name: exit %d, %q", code, errOut)
	}
}
