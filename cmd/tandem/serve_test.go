package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tandem/store/postgres/pgtest"
)

func TestServeTLS(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.tlsCert, cfg.tlsKey = writeCert(t)
	srv := startServer(t, cfg)
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL = %s, want https", srv.URL())
	}
	c := newClient(t, srv)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cfg.tlsCert)
	pool.AppendCertsFromPEM(pem)
	c.http.Transport.(*specCheck).next = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}

	r := c.do("POST", "/api/signup", map[string]string{"email": "ann@example.com", "password": "correct horse", "name": "Ann"})
	c.want(r, 201, "", "signup over HTTPS")
	if cookie := sessionCookie(r.header); cookie == nil || !cookie.Secure || !cookie.HttpOnly {
		t.Fatalf("session cookie under TLS = %+v, want Secure and HttpOnly", cookie)
	}
	c.want(c.do("GET", "/api/me", nil), 200, "", "me over HTTPS")

	// Plain HTTP to the TLS port gets nowhere.
	resp, err := http.Get(strings.Replace(srv.URL(), "https://", "http://", 1) + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS port")
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tandem test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestServeRefusesOldSchema(t *testing.T) {
	// A brand-new embedded store is set up without --migrate.
	dir := t.TempDir()
	cfg := testConfig(t, "sqlite")
	cfg.migrate, cfg.db.dataDir = false, dir
	srv := startServer(t, cfg)
	c := newClient(t, srv)
	c.want(c.do("GET", "/readyz", nil), 200, "", "ready on a new embedded store")

	// A database that is behind is refused without --migrate; with one
	// migration so far, an unmigrated Postgres database is the case to show
	// (nothing is ever set up implicitly there).
	url := pgtest.Empty(t)
	code, _, errOut := tandem(t, "serve", "--addr", "127.0.0.1:0", "--database-url", url)
	if code != 1 || !strings.Contains(errOut, "schema is behind") || !strings.Contains(errOut, "--migrate") {
		t.Fatalf("serve on an unmigrated Postgres: exit %d, %q", code, errOut)
	}
}

func TestServeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "nonsense"}, "--addr"},
		{[]string{"serve", "--tls-cert", "x.pem"}, "go together"},
		{[]string{"serve", "--log-format", "xml"}, "text or json"},
		{[]string{"serve", "--max-doc-bytes", "-1"}, "--max-doc-bytes must be positive"},
		{[]string{"serve", "--max-body-bytes", "0"}, "--max-body-bytes must be positive"},
		{[]string{"serve", "--ops-per-second", "NaN"}, "--ops-per-second must be positive"},
		{[]string{"serve", "--session-idle", "0s"}, "--session-idle must be positive"},
		{[]string{"serve", "--allowed-origins", "evil.example"}, "http://"},
		{[]string{"serve", "--argon2-memory-kib", "12"}, "8192"},
		{[]string{"serve", "--session-idle", "soon"}, "invalid value"},
		{[]string{"serve", "--wait-for-db", "-1s"}, "--wait-for-db"},
		{[]string{"serve", "extra"}, "unexpected argument"},
	} {
		code, _, errOut := tandem(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("tandem %v: exit %d, %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, _, errOut := tandem(t, "serve", "--help"); code != 0 || !strings.Contains(errOut, "TANDEM_ALLOWED_ORIGINS") {
		t.Errorf("serve --help: exit %d; it should name each flag's environment variable: %q", code, errOut)
	}
	t.Setenv("TANDEM_MAX_DOC_BYTES", "lots")
	if code, _, errOut := tandem(t, "serve"); code != 2 || !strings.Contains(errOut, "TANDEM_MAX_DOC_BYTES") {
		t.Errorf("bad environment value: exit %d, %q", code, errOut)
	}
}

// TestGracefulShutdown runs the real binary, starts a request whose body is
// still arriving, sends SIGTERM, and checks that the request completes and
// the process then exits 0.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "tandem")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--migrate",
		"--argon2-memory-kib", "8192")
	cmd.Env = append(os.Environ(), "TANDEM_DATABASE_URL=")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "tandem: serving on ")
	if err != nil || !ok {
		t.Fatalf("server did not say where it serves: %q, %v", line, err)
	}

	body, send := io.Pipe()
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/api/signup", body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := send.Write([]byte(`{"email": "ann@example.com", `)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the request is in flight
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// New connections are refused while the old request finishes.
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a new request was served during shutdown: %d", resp.StatusCode)
	}
	if _, err := send.Write([]byte(`"password": "correct horse", "name": "Ann"}`)); err != nil {
		t.Fatal(err)
	}
	send.Close()
	if r := <-done; r.err != nil || r.status != http.StatusCreated {
		t.Fatalf("in-flight request: %d, %v; want 201", r.status, r.err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit: %v, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not exit after SIGTERM")
	}
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TANDEM_DATABASE_URL", "")
	t.Setenv("TANDEM_DATA_DIR", dir)
	if code, _, errOut := tandem(t, "migrate", "up"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	code, out, errOut := tandemIn(t, "first password\n", "user", "create", "--email", "ann@example.com", "--name", "Ann")
	if code != 0 || !strings.Contains(out, "created user") {
		t.Fatalf("user create: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := tandemIn(t, "x\n", "user", "create", "--email", "bob@example.com", "--name", "Bob"); code != 1 || !strings.Contains(errOut, "password must be") {
		t.Errorf("short password: exit %d, %q", code, errOut)
	}
	if code, _, errOut := tandemIn(t, "another password\n", "user", "create", "--email", "ANN@example.com", "--name", "Ann"); code != 1 || !strings.Contains(errOut, "already registered") {
		t.Errorf("taken email: exit %d, %q", code, errOut)
	}
	if code, _, errOut := tandemIn(t, "", "user", "create", "--email", "cat@example.com", "--name", "Cat"); code != 1 || !strings.Contains(errOut, "no password") {
		t.Errorf("no password: exit %d, %q", code, errOut)
	}
	if code, _, errOut := tandem(t, "user", "create", "--email", "cat@example.com"); code != 2 || !strings.Contains(errOut, "--name") {
		t.Errorf("missing name: exit %d, %q", code, errOut)
	}
	code, out, _ = tandem(t, "user", "list")
	if code != 0 || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "Ann") {
		t.Errorf("user list: exit %d, %q", code, out)
	}
	if code, out, errOut := tandemIn(t, "second password\n", "user", "set-password", "--email", "ann@example.com"); code != 0 || !strings.Contains(out, "password set") {
		t.Fatalf("set-password: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := tandemIn(t, "whatever pw\n", "user", "set-password", "--email", "zed@example.com"); code != 1 || !strings.Contains(errOut, "no user") {
		t.Errorf("set-password for nobody: exit %d, %q", code, errOut)
	}

	// The new password works on the server; the old one does not.
	cfg := testConfig(t, "sqlite")
	cfg.db.dataDir = dir
	srv := startServer(t, cfg)
	c := newClient(t, srv)
	c.want(c.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "first password"}), 401, "unauthorized", "old password")
	c.want(c.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "second password"}), 200, "", "new password")
}
