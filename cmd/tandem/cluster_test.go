package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	tclient "tandem/collab/client"
	"tandem/ot"
	"tandem/store/postgres/pgtest"
)

// The cluster's fault test runs three real `tandem serve` processes on one
// Postgres database with editors spread over all three, typing into the
// same documents, and then, round after round: SIGKILL of a document's
// owner, SIGSTOP of an owner past its lease and SIGCONT, SIGTERM of a node,
// and (with TANDEM_TEST_PG_RESTART=1, as .ci/run does in a run of its own,
// since it takes every other test's database away too) an immediate
// restart of Postgres. After each step it checks that every acknowledged
// op is stored exactly once at its version, that versions are contiguous,
// that every editor converged on the stored text, and that editors on the
// nodes that were not touched never saw their socket close.

const clusterTTL = 2 * time.Second

// clusterNode is one tandem serve process.
type clusterNode struct {
	t       *testing.T
	idx     int
	bin     string
	args    []string
	port    int
	url     string
	logPath string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// start runs the process and waits until it serves.
func (n *clusterNode) start() {
	n.t.Helper()
	args := append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", n.port)}, n.args...)
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), "TANDEM_DATA_DIR=")
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "tandem: serving on ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log, _ := os.ReadFile(n.logPath)
			n.t.Fatalf("node %d did not start: %q\n%s", n.idx, line, tail(log, 3000))
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		n.t.Fatalf("node %d did not start in 30s", n.idx)
	}
	n.mu.Lock()
	n.cmd = cmd
	n.mu.Unlock()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// signal sends sig to the process, by its pid.
func (n *clusterNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to exit (after a signal), up to limit.
func (n *clusterNode) wait(limit time.Duration) error {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
		return err
	case <-time.After(limit):
		return fmt.Errorf("node %d still running after %s", n.idx, limit)
	}
}

// stop kills the process if it runs (test cleanup).
func (n *clusterNode) stop() {
	n.signal(syscall.SIGCONT)
	n.signal(syscall.SIGKILL)
	_ = n.wait(10 * time.Second)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// buildTandem builds the binary once per test.
func buildTandem(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tandem")
	build := exec.Command("go", "build", "-race", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startCluster starts n nodes on a fresh database.
func startCluster(t *testing.T, n int) (nodes []*clusterNode, dbURL string) {
	t.Helper()
	bin := buildTandem(t)
	dbURL = pgtest.Empty(t)
	dir := os.Getenv("TANDEM_CLUSTER_LOGS") // to keep the nodes' logs
	if dir == "" {
		dir = t.TempDir()
	}
	for i := range n {
		node := &clusterNode{t: t, idx: i, bin: bin, port: freePort(t), logPath: filepath.Join(dir, fmt.Sprintf("node%d.log", i)),
			args: []string{"--database-url", dbURL, "--migrate", "--cluster-secret", "fault-test-cluster-secret",
				"--lease-ttl", clusterTTL.String(), "--argon2-memory-kib", "8192", "--log-level", "debug",
				"--ops-per-second", "1000", "--ops-burst", "1000", "--wait-for-db", "30s"}}
		node.url = fmt.Sprintf("http://127.0.0.1:%d", node.port)
		t.Cleanup(node.stop)
		node.start()
		nodes = append(nodes, node)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, node := range nodes {
				log, _ := os.ReadFile(node.logPath)
				var errs []byte
				for line := range bytes.Lines(log) {
					if bytes.Contains(line, []byte("level=ERROR")) {
						errs = append(errs, line...)
					}
				}
				t.Logf("node %d errors:\n%s\nlog (tail):\n%s", node.idx, tail(errs, 4000), tail(withoutRequests(log), 4000))
			}
		}
	})
	return nodes, dbURL
}

// rest is one user of the REST API, by bearer token.
type rest struct {
	base, token, userID string
}

func (a rest) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// signUp makes an account with an API token.
func signUp(t *testing.T, base, email string) rest {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(path string, body, out any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
		}
		if out != nil {
			_ = json.Unmarshal(data, out)
		}
	}
	var u struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	post("/api/signup", map[string]string{"email": email, "password": "cluster password", "name": strings.Split(email, "@")[0]}, &u)
	var tok struct {
		Token string `json:"token"`
	}
	post("/api/tokens", map[string]string{"name": "fault test"}, &tok)
	if u.User.ID == "" {
		t.Fatal("signup: no user id")
	}
	return rest{base: base, token: tok.Token, userID: u.User.ID}
}

// faultEditor is a client that keeps typing through faults: when its
// socket closes it reconnects to a node that is up, rejoins at its version
// (catching up on the ops it missed) and re-sends its outstanding op with
// its original id and base, as docs/protocol.md asks of clients. Its state
// machine is collab/client.State; it keeps its own sockets (not a Conn) to
// choose the node, time recoveries and record every close.
type faultEditor struct {
	name, doc, token, user string
	nodes                  []*clusterNode
	home                   int
	rng                    *rand.Rand

	mu        sync.Mutex
	node      int // the node of the current socket (-1: none)
	joined    bool
	st        *tclient.State   // nil until the first join
	acked     map[string]int64 // op id → version
	closes    []editorClose
	lastAck   time.Time
	mark      time.Time // a fault's start
	recovered time.Time // the first ack after mark
	paused    bool
	err       error
	ws        *websocket.Conn
	rejoinDue time.Time
	goHome    bool // its home node is back: move there (not a fault)
}

// editorClose is a socket of an editor that closed, and on which node.
type editorClose struct {
	at   time.Time
	node int
	why  string
}

func (e *faultEditor) failf(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", e.name, fmt.Sprintf(format, args...))
	}
}

// run connects and types until ctx ends.
func (e *faultEditor) run(ctx context.Context) {
	for try := 0; ctx.Err() == nil; try++ {
		node := (e.home + try) % len(e.nodes)
		if try > 0 && try%len(e.nodes) == 0 {
			time.Sleep(200 * time.Millisecond)
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ws, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(e.nodes[node].url, "http")+"/api/socket", &websocket.DialOptions{
			HTTPHeader: http.Header{"Authorization": {"Bearer " + e.token}}, Subprotocols: []string{"tandem.v1"},
		})
		cancel()
		if err != nil {
			continue
		}
		ws.SetReadLimit(64 << 20)
		why := e.session(ctx, ws, node)
		if ctx.Err() == nil && why != goingHome {
			e.mu.Lock()
			e.closes = append(e.closes, editorClose{at: time.Now(), node: node, why: why})
			e.mu.Unlock()
		}
		try = -1 // home first again
	}
}

// session runs one socket until it closes; it returns why.
func (e *faultEditor) session(ctx context.Context, ws *websocket.Conn, node int) string {
	defer ws.CloseNow()
	msgs := make(chan map[string]any, 1024)
	ended := make(chan string, 1)
	go func() {
		defer close(msgs)
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				ended <- fmt.Sprintf("%v (close status %d)", err, websocket.CloseStatus(err))
				return
			}
			batch, _ := decodeFrame(data)
			for _, m := range batch {
				msgs <- m
			}
		}
	}()
	e.mu.Lock()
	e.node, e.ws, e.joined = node, ws, false
	e.goHome = e.goHome && node != e.home
	e.sendJoin()
	e.mu.Unlock()
	tick := time.NewTicker(time.Duration(80+e.rng.IntN(60)) * time.Millisecond)
	defer tick.Stop()
	defer func() {
		e.mu.Lock()
		e.node, e.ws, e.joined = -1, nil, false
		e.mu.Unlock()
	}()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return <-ended
			}
			e.mu.Lock()
			e.handle(m)
			e.mu.Unlock()
		case <-tick.C:
			e.mu.Lock()
			if !e.joined && !e.rejoinDue.IsZero() && time.Now().After(e.rejoinDue) {
				e.sendJoin()
			}
			if e.goHome && e.node != e.home && e.out() == nil {
				e.mu.Unlock()
				return goingHome
			}
			if e.joined && e.out() == nil && !e.paused && e.err == nil {
				e.type1()
			}
			e.mu.Unlock()
		case <-ctx.Done():
			return "stopped"
		}
	}
}

// goingHome ends a session on purpose: the editor moves back to its home
// node once that is up again, so that every node keeps its editors.
const goingHome = "going home"

// send writes a message without waiting long (caller holds mu).
func (e *faultEditor) send(m map[string]any) {
	if e.ws == nil {
		return
	}
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = e.ws.Write(ctx, websocket.MessageText, b)
}

func (e *faultEditor) sendJoin() {
	e.rejoinDue = time.Time{}
	m := map[string]any{"type": "join", "doc": e.doc}
	if e.st != nil {
		m["version"] = e.st.Version()
	}
	e.send(m)
}

// type1 makes one random edit and sends it.
func (e *faultEditor) type1() {
	n := e.st.Len()
	var op ot.Op
	if n > 20 && e.rng.IntN(3) == 0 {
		op = ot.Deletion(n, e.rng.IntN(n), 1)
	} else {
		op = ot.Insertion(n, e.rng.IntN(n+1), string(rune('a'+e.rng.IntN(26))))
	}
	if _, err := e.st.Edit(op); err != nil {
		e.failf("%v", err)
		return
	}
	e.resend()
}

// resend sends the outstanding op as first sent.
func (e *faultEditor) resend() {
	o := e.st.Outstanding()
	e.send(map[string]any{"type": "op", "doc": e.doc, "version": o.Base, "id": o.ID, "op": o.Orig})
}

// version is the last server version seen (-1 before the first join).
func (e *faultEditor) version() int64 {
	if e.st == nil {
		return -1
	}
	return e.st.Version()
}

// out is the op awaiting its ack, or nil.
func (e *faultEditor) out() *tclient.Pending {
	if e.st == nil {
		return nil
	}
	return e.st.Outstanding()
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// handle applies one server message (caller holds mu).
func (e *faultEditor) handle(m map[string]any) {
	if e.err != nil {
		return
	}
	switch m["type"] {
	case "joined":
		v := num(m["version"])
		if content, ok := m["content"].(string); ok {
			if o := e.out(); o != nil {
				e.failf("rejoined at %d with content while op %s is outstanding", e.st.Version(), o.ID)
				return
			}
			if e.st == nil {
				e.st = tclient.NewState(content, v)
				e.st.IDPrefix = e.name
			}
			e.st.Reset(content, v)
		}
		if e.st == nil {
			e.failf("joined without content at the first join")
			return
		}
		if ops, ok := m["ops"].([]any); ok {
			for _, o := range ops {
				om, _ := o.(map[string]any)
				e.remote(om)
			}
		}
		if e.st.Version() != v {
			e.failf("joined at %d, but at %d after its ops", v, e.st.Version())
		}
		e.joined = true
		if e.out() != nil {
			e.resend()
		}
	case "ack":
		if o := e.out(); o == nil || m["id"] != o.ID {
			return // a re-send's second answer
		}
		e.ack(num(m["version"]))
	case "op":
		e.remote(m)
	case "error":
		code, _ := m["code"].(string)
		id, _ := m["id"].(string)
		switch {
		case id != "" && (e.out() == nil || id != e.out().ID):
			// About an op already settled.
		case code == "unavailable" || (code == "bad_request" && strings.Contains(fmt.Sprint(m["message"]), "join")):
			// The room restarted or the node is going: rejoin shortly.
			e.joined = false
			e.rejoinDue = time.Now().Add(300 * time.Millisecond)
		case code == "rate_limited":
		case code == "bad_request" && strings.Contains(fmt.Sprint(m["message"]), "already joined"):
		default:
			e.failf("server error: %v", m)
		}
	}
}

func (e *faultEditor) ack(version int64) {
	o := e.out()
	if version != e.st.Version()+1 {
		e.failf("ack of %s at %d, but at version %d", o.ID, version, e.st.Version())
		return
	}
	e.acked[o.ID] = version
	e.st.Ack(version) // nothing buffered: it types only when synced
	e.lastAck = time.Now()
	if e.recovered.IsZero() && e.lastAck.After(e.mark) {
		e.recovered = e.lastAck
	}
}

func (e *faultEditor) remote(m map[string]any) {
	v := num(m["version"])
	if o := e.out(); o != nil && m["id"] == o.ID && m["user"] == e.user {
		e.ack(v) // our own op, seen in a catch-up
		return
	}
	if v <= e.st.Version() {
		return // seen already
	}
	from := v
	if f, ok := m["from"]; ok {
		from = num(f) // a composed op: versions from..v
	}
	raw, _ := json.Marshal(m["op"])
	var op ot.Op
	if err := json.Unmarshal(raw, &op); err != nil {
		e.failf("bad op: %v", err)
		return
	}
	_, err := e.st.Remote(from, v, op)
	if errors.Is(err, tclient.ErrNeedHistory) {
		// The outstanding op cannot be moved over a composed op as the
		// server moves it (one op at a time): take those ops one by one.
		recs, err := e.history(from, v)
		if err != nil {
			e.failf("history %d..%d: %v", from, v, err)
			return
		}
		page := struct{ Ops []map[string]any }{recs}
		for _, rec := range page.Ops {
			e.remote(rec)
		}
		return
	}
	if err != nil {
		e.failf("remote op: %v", err)
	}
}

// history reads the stored ops from..to over REST, page by page, from
// the first node that answers (the editor's own may be the one down).
func (e *faultEditor) history(from, to int64) ([]map[string]any, error) {
	var out []map[string]any
	var err error
	for _, n := range e.nodes {
		out = out[:0]
		api := rest{base: n.url, token: e.token}
		for next := from; next <= to; {
			var page struct {
				Ops []map[string]any `json:"ops"`
			}
			if err = api.call("GET", fmt.Sprintf("/api/docs/%s/ops?from=%d", e.doc, next), nil, &page); err != nil {
				break
			}
			if len(page.Ops) == 0 {
				err = fmt.Errorf("no ops from version %d", next)
				break
			}
			for _, rec := range page.Ops {
				if v := num(rec["version"]); v <= to {
					out = append(out, rec)
					next = v + 1
				} else {
					next = to + 1
				}
			}
		}
		if err == nil {
			return out, nil
		}
	}
	return nil, err
}

// faultRun is the test's world: nodes, database, documents and editors.
type faultRun struct {
	t       *testing.T
	nodes   []*clusterNode
	dbURL   string
	docs    []string
	owner   rest
	editors []*faultEditor

	acked, steps int
	// recovery: from a fault until every editor had an op acknowledged
	// again; survivors: the same for the editors on untouched nodes.
	recovery, survivors []time.Duration
}

// ownerOf is the node index that holds doc's lease, or -1.
func (f *faultRun) ownerOf(doc string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.dbURL)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var url string
	err = conn.QueryRow(ctx, `SELECT n.url FROM doc_leases l JOIN nodes n USING (node_id)
		WHERE l.doc_id = $1 AND l.expires_at > now()`, doc).Scan(&url)
	if err != nil {
		return -1
	}
	for i, n := range f.nodes {
		if n.url == url {
			return i
		}
	}
	return -1
}

// alive is a node index that serves.
func (f *faultRun) alive() string {
	for _, n := range f.nodes {
		n.mu.Lock()
		up := n.cmd != nil
		n.mu.Unlock()
		if up {
			if resp, err := http.Get(n.url + "/healthz"); err == nil {
				resp.Body.Close()
				return n.url
			}
		}
	}
	return f.nodes[0].url
}

// step runs one fault, measures the time until every editor has an op
// acknowledged again, then quiesces and checks everything. victim is the
// node whose editors may lose their sockets (-1: none may).
func (f *faultRun) step(name string, victim int, fault func()) {
	t := f.t
	t.Helper()
	f.steps++
	closesBefore := make([]int, len(f.editors))
	homes := make([]int, len(f.editors))
	t0 := time.Now()
	for i, e := range f.editors {
		e.mu.Lock()
		closesBefore[i], homes[i] = len(e.closes), e.node
		e.mark, e.recovered = t0, time.Time{}
		e.mu.Unlock()
	}
	fault()
	// Recovery: every editor has an op acknowledged after the fault.
	deadline := time.Now().Add(60 * time.Second)
	for {
		waiting := 0
		var all, survived time.Time
		for i, e := range f.editors {
			e.mu.Lock()
			if e.recovered.IsZero() {
				waiting++
			} else if all = maxTime(all, e.recovered); homes[i] != victim {
				survived = maxTime(survived, e.recovered)
			}
			failed := e.err
			e.mu.Unlock()
			if failed != nil {
				t.Fatalf("%s: %v", name, failed)
			}
		}
		if waiting == 0 {
			if survived.IsZero() {
				survived = all
			}
			f.recovery = append(f.recovery, all.Sub(t0))
			f.survivors = append(f.survivors, survived.Sub(t0))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d editors had nothing acknowledged within 60s", name, waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.check(name)
	for i, e := range f.editors {
		e.mu.Lock()
		for _, c := range e.closes[closesBefore[i]:] {
			if c.node != victim {
				t.Errorf("%s: %s's socket on node %d (untouched) closed: %s", name, e.name, c.node, c.why)
			}
		}
		e.mu.Unlock()
	}
	t.Logf("%s: every editor recovered in %s, those on untouched nodes in %s", name,
		f.recovery[len(f.recovery)-1].Round(time.Millisecond), f.survivors[len(f.survivors)-1].Round(time.Millisecond))
}

// check pauses typing, waits until every editor is synchronized, and
// compares what they were acknowledged, their text and the stored history.
func (f *faultRun) check(name string) {
	t := f.t
	t.Helper()
	for _, e := range f.editors {
		e.mu.Lock()
		e.paused = true
		e.mu.Unlock()
	}
	defer func() {
		for _, e := range f.editors {
			e.mu.Lock()
			e.paused = false
			e.mu.Unlock()
		}
	}()
	base := f.alive()
	api := rest{base: base, token: f.owner.token}
	deadline := time.Now().Add(60 * time.Second)
	for _, doc := range f.docs {
		for {
			var c struct {
				Version int64  `json:"version"`
				Content string `json:"content"`
			}
			if err := api.call("GET", "/api/docs/"+doc+"/content", nil, &c); err == nil {
				synced := true
				for _, e := range f.editors {
					e.mu.Lock()
					if e.doc == doc && (e.out() != nil || !e.joined || e.st.Version() != c.Version || e.st.Text() != c.Content) {
						synced = false
					}
					e.mu.Unlock()
				}
				if synced {
					break
				}
			}
			if time.Now().After(deadline) {
				for _, e := range f.editors {
					e.mu.Lock()
					t.Logf("%s: version %d joined %v outstanding %v node %d, err %v", e.name, e.version(), e.joined, e.out() != nil, e.node, e.err)
					e.mu.Unlock()
				}
				t.Fatalf("%s: document %s: the editors did not converge on the stored text (at %d) within 60s", name, doc, c.Version)
			}
			time.Sleep(100 * time.Millisecond)
		}
		stored := map[string]int64{}
		var from int64 = 1
		var want int64 = 1
		for {
			var page struct {
				Ops []struct {
					Version int64  `json:"version"`
					ID      string `json:"id"`
					User    string `json:"user"`
				} `json:"ops"`
				Next *int64 `json:"next"`
			}
			if err := api.call("GET", fmt.Sprintf("/api/docs/%s/ops?from=%d&limit=1000", doc, from), nil, &page); err != nil {
				t.Fatalf("%s: read history: %v", name, err)
			}
			for _, op := range page.Ops {
				if op.Version != want {
					t.Fatalf("%s: document %s: version %d after %d: not contiguous", name, doc, op.Version, want-1)
				}
				want++
				key := op.User + "/" + op.ID
				if _, dup := stored[key]; dup {
					t.Fatalf("%s: op %s stored twice", name, key)
				}
				stored[key] = op.Version
			}
			if page.Next == nil {
				break
			}
			from = *page.Next
		}
		acked, lost := 0, 0
		for _, e := range f.editors {
			if e.doc != doc {
				continue
			}
			e.mu.Lock()
			for id, v := range e.acked {
				acked++
				if stored[e.user+"/"+id] != v {
					lost++
					t.Errorf("%s: %s acknowledged at %d, stored at %d", name, id, v, stored[e.user+"/"+id])
				}
			}
			e.mu.Unlock()
		}
		if lost > 0 {
			t.Fatalf("%s: document %s: %d of %d acknowledged ops lost or moved", name, doc, lost, acked)
		}
	}
}

// TestClusterFaults: see the comment at the top of the file. Rounds:
// TANDEM_CLUSTER_ROUNDS (default 1).
func TestClusterFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three server processes")
	}
	rounds := 1
	if s := os.Getenv("TANDEM_CLUSTER_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	pgRestart := os.Getenv("TANDEM_TEST_PG_RESTART") == "1"
	nodes, dbURL := startCluster(t, 3)
	f := &faultRun{t: t, nodes: nodes, dbURL: dbURL}
	f.owner = signUp(t, nodes[0].url, "owner@example.com")
	users := []rest{f.owner, signUp(t, nodes[1].url, "bea@example.com"), signUp(t, nodes[2].url, "cy@example.com")}
	for d := range 2 {
		var doc struct {
			ID string `json:"id"`
		}
		if err := f.owner.call("POST", "/api/docs", map[string]string{"title": fmt.Sprintf("doc %d", d)}, &doc); err != nil {
			t.Fatal(err)
		}
		f.docs = append(f.docs, doc.ID)
	}
	for i, u := range users[1:] {
		email := []string{"bea@example.com", "cy@example.com"}[i]
		for _, doc := range f.docs {
			if err := f.owner.call("PUT", "/api/docs/"+doc+"/members", map[string]string{"email": email, "role": "editor"}, nil); err != nil {
				t.Fatal(err)
			}
			u.base = nodes[0].url
			if err := u.call("POST", "/api/invitations/"+doc+"/accept", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Two editors per node per document, each user on every node.
	for d, doc := range f.docs {
		for k := range 6 {
			u := users[k%3]
			e := &faultEditor{name: fmt.Sprintf("d%de%d", d, k), doc: doc, token: u.token, user: u.userID, nodes: nodes,
				home: k % 3, rng: rand.New(rand.NewPCG(uint64(d), uint64(k))), node: -1, acked: map[string]int64{}}
			f.editors = append(f.editors, e)
			wg.Go(func() { e.run(ctx) })
		}
	}
	time.Sleep(2 * time.Second) // everyone joined and typing
	f.check("warm-up")

	restart := func(i int) {
		time.Sleep(500 * time.Millisecond)
		nodes[i].start()
		// Its editors come back to it, so that the next fault finds
		// editors on every node.
		for _, e := range f.editors {
			if e.home == i {
				e.mu.Lock()
				e.goHome = true
				e.mu.Unlock()
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for _, e := range f.editors {
			for {
				e.mu.Lock()
				home := e.home != i || (e.node == i && e.joined)
				e.mu.Unlock()
				if home {
					break
				}
				if time.Now().After(deadline) {
					e.mu.Lock()
					defer e.mu.Unlock()
					t.Fatalf("%s did not come back to node %d: on node %d, joined %v, outstanding %v, going home %v, closes %v",
						e.name, i, e.node, e.joined, e.out() != nil, e.goHome, e.closes)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	for round := range rounds {
		owner := f.ownerOf(f.docs[0])
		if owner < 0 {
			t.Fatalf("round %d: nobody owns %s", round, f.docs[0])
		}
		f.step(fmt.Sprintf("round %d: SIGKILL owner node %d", round, owner), owner, func() {
			nodes[owner].signal(syscall.SIGKILL)
			_ = nodes[owner].wait(10 * time.Second)
		})
		restart(owner)

		owner = f.ownerOf(f.docs[1])
		stepDowns := metric(t, nodes[owner].url, "tandem_cluster_step_downs_total")
		f.step(fmt.Sprintf("round %d: SIGSTOP owner node %d past its lease", round, owner), owner, func() {
			nodes[owner].signal(syscall.SIGSTOP)
			time.Sleep(2*clusterTTL + 500*time.Millisecond)
			if o := f.ownerOf(f.docs[1]); o == owner || o < 0 {
				t.Errorf("round %d: nobody took %s over from the stopped node (owner %d)", round, f.docs[1], o)
			}
			nodes[owner].signal(syscall.SIGCONT)
		})
		if after := metric(t, nodes[owner].url, "tandem_cluster_step_downs_total"); after <= stepDowns {
			t.Errorf("round %d: the stopped node did not step down (%v → %v)", round, stepDowns, after)
		}

		owner = f.ownerOf(f.docs[0])
		f.step(fmt.Sprintf("round %d: SIGTERM node %d", round, owner), owner, func() {
			nodes[owner].signal(syscall.SIGTERM)
			if err := nodes[owner].wait(20 * time.Second); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
		})
		restart(owner)

		if pgRestart && os.Geteuid() != 0 {
			t.Log("not root: Postgres is not restarted")
		} else if pgRestart {
			f.step(fmt.Sprintf("round %d: Postgres restart -m immediate", round), -1, func() {
				out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", pgVersion(t), "main", "restart", "-m", "immediate").CombinedOutput()
				if err != nil {
					t.Fatalf("restart Postgres: %v\n%s", err, out)
				}
			})
		}
	}
	for _, e := range f.editors {
		e.mu.Lock()
		f.acked += len(e.acked)
		e.mu.Unlock()
	}
	slices.Sort(f.recovery)
	slices.Sort(f.survivors)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("cluster faults: %d steps over %d rounds (lease TTL %s), %d ops acknowledged, 0 lost; recovery of every editor p50 %s, max %s; of editors on untouched nodes p50 %s, max %s",
		f.steps, rounds, clusterTTL, f.acked, ms(f.recovery[len(f.recovery)/2]), ms(f.recovery[len(f.recovery)-1]),
		ms(f.survivors[len(f.survivors)/2]), ms(f.survivors[len(f.survivors)-1]))
}

// pgVersion is the installed Postgres cluster's major version.
func pgVersion(t *testing.T) string {
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) == 0 {
		t.Skip("no local Postgres cluster to restart")
	}
	return entries[0].Name()
}

// withoutRequests drops the request log lines from a node's log.
func withoutRequests(log []byte) []byte {
	var out []byte
	for line := range bytes.Lines(log) {
		if !bytes.Contains(line, []byte("msg=request ")) {
			out = append(out, line...)
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// metric reads one counter or gauge from a node's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
