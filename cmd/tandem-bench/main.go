// Command tandem-bench is Tandem's load generator. It drives a running
// server through the public protocol only: REST to make users and documents,
// then one WebSocket per editor, each running the client state machine. It
// reports acknowledged ops/s, latency from an editor's send to its ack and
// to the other editors' receipt, errors by code and the server's memory per
// connection, and checks at the end that every editor converged to the
// server's version (the few full editors of each document to its text, the
// light rest, which keep only its length, to that) and that every
// acknowledged op is stored exactly once.
//
// --url may list several nodes of one cluster (tandem serve processes on one
// database), comma-separated: accounts and documents are made through the
// first, each document's sockets are dealt over the nodes in turn, the
// convergence check reads the first, and every node must then serve each
// document's same content.
//
// --target sharedb drives ShareDB instead (cmd/tandem-bench/sharedb, --url
// ws://127.0.0.1:PORT) with the same editors, scenarios, figures and checks,
// speaking ShareDB's own protocol, so that both can be measured in one run.
//
// The server must allow the sign-ups: start it with a generous
// --login-rate-ip and, for many users, a cheap --argon2-memory-kib.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type config struct {
	target      string // "tandem" or "sharedb"
	url         string
	docs        int
	editors     int // per document
	full        int // of each document's editors, those that keep the text
	rate        float64
	idle        int
	users       int
	duration    time.Duration
	warmup      time.Duration
	seed        uint64
	jsonOut     bool
	allowRemote bool
	connectPar  int
	cpuProfile  string
}

func main() {
	if os.Getenv("GOGC") == "" {
		// The load generator's heap is frames and ops that live for a
		// moment: collecting less often frees a good part of a core for
		// the sockets (the server it drives is measured, not this).
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run1(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run1(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return runCompare(ctx, args[1:], stdout, stderr)
	}
	fs, c := configFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return runOne(ctx, *c, stdout, stderr)
}

// configFlags is tandem-bench's flag set, which fills the config it
// returns.
func configFlags(stderr io.Writer) (*flag.FlagSet, *config) {
	fs := flag.NewFlagSet("tandem-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := new(config)
	fs.StringVar(&c.target, "target", "tandem", "the server: tandem, or sharedb (cmd/tandem-bench/sharedb/server.js; --url ws://127.0.0.1:PORT)")
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the server's base URL, or a comma-separated list of the base URLs of one cluster's nodes\n(accounts and documents are made through the first; each document's sockets are dealt over the nodes in turn)")
	fs.IntVar(&c.docs, "docs", 1, "documents (D)")
	fs.IntVar(&c.editors, "editors", 4, "editors per document (K), one socket each")
	fs.IntVar(&c.full, "full-editors", 20, "of each document's editors, how many keep the text and check it at the end (the others keep only\nits length and check that); the receipt of 1 op in editors/full-editors is timed at every editor")
	fs.Float64Var(&c.rate, "rate", 0, "ops per second per editor; 0 is a closed loop (next op when the last is acked)")
	fs.IntVar(&c.idle, "idle", 0, "also hold this many idle sockets, joined to the documents")
	fs.IntVar(&c.users, "users", 0, "accounts to spread the sockets over (default: one per 16 sockets)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "how long to type before measuring")
	fs.Uint64Var(&c.seed, "seed", 1, "seed for the typing")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a server that is not on this machine's loopback")
	fs.IntVar(&c.connectPar, "connect-parallel", 32, "sockets opened at once while connecting")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the load generator's own CPU profile (the whole run) to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tandem-bench [flags]\n\nDrives a running tandem server, or the nodes of one cluster, and reports throughput,\nlatency and convergence.\n\n  tandem-bench --url http://127.0.0.1:8080 --docs 10 --editors 4\n  tandem-bench --url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083 --docs 10 --editors 6\n  tandem-bench compare --server 'Tandem=http://127.0.0.1:8080' --server 'ShareDB=ws://127.0.0.1:8090'   (the README's table)\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, c
}

// args are the flags that give c (with --json when c.jsonOut).
func (c config) args() []string {
	a := []string{"--target", c.target, "--url", c.url, "--docs", strconv.Itoa(c.docs), "--editors", strconv.Itoa(c.editors),
		"--full-editors", strconv.Itoa(c.full), "--rate", strconv.FormatFloat(c.rate, 'g', -1, 64), "--idle", strconv.Itoa(c.idle),
		"--users", strconv.Itoa(c.users), "--duration", c.duration.String(), "--warmup", c.warmup.String(),
		"--seed", strconv.FormatUint(c.seed, 10), "--connect-parallel", strconv.Itoa(c.connectPar)}
	if c.jsonOut {
		a = append(a, "--json")
	}
	if c.allowRemote {
		a = append(a, "--allow-remote")
	}
	if c.cpuProfile != "" {
		a = append(a, "--cpuprofile", c.cpuProfile)
	}
	return a
}

// runOne runs the benchmark c and prints its result.
func runOne(ctx context.Context, c config, stdout, stderr io.Writer) int {
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
		return 2
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "tandem-bench: --cpuprofile: %v\n", err)
			return 2
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	do := bench
	if c.target == "sharedb" {
		do = benchShareDB
	}
	res, err := do(ctx, c, stderr)
	if res != nil {
		if c.jsonOut {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(res)
		} else {
			res.print(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandem-bench: %v\n", err)
		return 1
	}
	return 0
}

func (c config) validate() error {
	var nodes []string
	var err error
	switch c.target {
	case "", "tandem":
		nodes, err = parseNodes(c.url)
	case "sharedb":
		var u string
		u, err = sharedbURL(c.url)
		nodes = []string{u}
	default:
		err = fmt.Errorf("--target %q: want tandem or sharedb", c.target)
	}
	if err != nil {
		return err
	}
	if !c.allowRemote {
		for _, n := range nodes {
			u, _ := url.Parse(n)
			host := u.Hostname()
			ip := net.ParseIP(host)
			if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return fmt.Errorf("--url %s is not loopback; pass --allow-remote to load another machine", n)
			}
		}
	}
	switch {
	case c.docs < 1 || c.docs > 100_000:
		return errors.New("--docs must be 1 to 100000")
	case c.editors < 0 || c.editors > 10_000 || c.docs*c.editors > 100_000:
		return errors.New("--editors must be 0 to 10000, and docs × editors at most 100000")
	case c.full < 1 && c.target != "sharedb":
		return errors.New("--full-editors must be at least 1")
	case c.idle < 0 || c.idle > 100_000:
		return errors.New("--idle must be 0 to 100000")
	case c.editors == 0 && c.idle == 0:
		return errors.New("nothing to do: --editors and --idle are both 0")
	case c.rate < 0 || c.rate > 1000:
		return errors.New("--rate must be 0 to 1000")
	case c.duration <= 0 || c.duration > time.Hour || c.warmup < 0 || c.warmup > 10*time.Minute:
		return errors.New("--duration must be in (0, 1h] and --warmup in [0, 10m]")
	case c.connectPar < 1:
		return errors.New("--connect-parallel must be at least 1")
	}
	return nil
}

// parseNodes splits --url, one base URL or a comma-separated list of the
// nodes of one cluster, into base URLs without a trailing slash. Each must
// be http(s)://host[:port][/path]; an empty element is refused, and so is a
// node listed twice. Duplicates are found by spelling (case, a trailing
// slash and the scheme's default port aside), not by resolving names:
// localhost and 127.0.0.1 are two nodes to it.
func parseNodes(list string) ([]string, error) {
	var nodes []string
	seen := map[string]bool{}
	for i, raw := range strings.Split(list, ",") {
		s := strings.TrimSpace(raw)
		if s == "" {
			return nil, fmt.Errorf("--url %q: element %d is empty", list, i+1)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--url %q: want http(s)://host:port", s)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		key := u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port) + strings.TrimSuffix(u.Path, "/")
		if seen[key] {
			return nil, fmt.Errorf("--url lists %s twice", s)
		}
		seen[key] = true
		nodes = append(nodes, strings.TrimSuffix(s, "/"))
	}
	return nodes, nil
}

// bench sets up, runs and checks one benchmark. Accounts and documents are
// made through the first node; the sockets of each document are spread over
// the nodes round-robin (see socketNode).
func bench(ctx context.Context, c config, progress io.Writer) (*result, error) {
	nodes, err := parseNodes(c.url)
	if err != nil {
		return nil, err
	}
	sockets := c.docs*c.editors + c.idle
	users := c.users
	if users <= 0 {
		users = max(1, (sockets+15)/16)
	}
	users = min(users, sockets)
	tag := fmt.Sprintf("%d-%d", time.Now().UnixNano(), c.seed)
	fmt.Fprintf(progress, "setting up %d users, %d documents...\n", users, c.docs)

	owner, err := signup(ctx, nodes[0], fmt.Sprintf("bench-%s-owner@example.com", tag))
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	accts := make([]*api, users)
	emails := make([]string, users)
	if err := parallel(ctx, users, 4, func(i int) error {
		emails[i] = fmt.Sprintf("bench-%s-%d@example.com", tag, i)
		a, err := signup(ctx, nodes[0], emails[i])
		accts[i] = a
		return err
	}); err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	// Socket i of the editors types in document i/editors; idle socket j
	// holds document j%docs; socket n uses account n%users. Each document is
	// shared with the accounts of its sockets only.
	sharers := make([]map[int]bool, c.docs)
	for d := range sharers {
		sharers[d] = map[int]bool{}
	}
	for i := range c.docs * c.editors {
		sharers[i/c.editors][i%users] = true
	}
	for j := range c.idle {
		sharers[j%c.docs][(c.docs*c.editors+j)%users] = true
	}
	docs := make([]string, c.docs)
	if err := parallel(ctx, c.docs, 8, func(d int) error {
		id, err := owner.createDoc(ctx, fmt.Sprintf("bench %d", d))
		if err != nil {
			return err
		}
		docs[d] = id
		for u := range sharers[d] {
			invited, err := owner.share(ctx, id, emails[u])
			if err != nil {
				return err
			}
			if !invited {
				continue
			}
			if err := accts[u].accept(ctx, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}

	load := make([]nodeLoad, len(nodes))
	for k, n := range nodes {
		load[k].URL = n
	}
	for i := range c.docs * c.editors {
		load[c.socketNode(i, len(nodes))].Editors++
	}
	for j := range c.idle {
		load[c.socketNode(c.docs*c.editors+j, len(nodes))].Idle++
	}

	rssBefore := clusterRSS(ctx, owner, nodes)
	// Each op's receipt is timed by every receiver for 1 op in
	// editors/full: as many samples as if the full editors timed every op.
	r := &run{measuring: make(chan struct{}), remoteEvery: uint32(max(1, c.editors/max(1, min(c.full, c.editors)))),
		serverSample: owner.at(nodes[0]).serverSample}
	eds := make([]*editor, c.docs*c.editors)
	fmt.Fprintf(progress, "connecting %d sockets to %d nodes...\n", sockets, len(nodes))
	if err := parallel(ctx, len(eds), c.connectPar, func(i int) error {
		d := i / c.editors
		kind := light
		if c.isFull(i % c.editors) {
			kind = full
		}
		e, err := dial(ctx, nodes[c.socketNode(i, len(nodes))], accts[i%users].token, docs[d], fmt.Sprintf("e%d", i), r, c.seed*1_000_003+uint64(i), kind)
		eds[i] = e
		return err
	}); err != nil {
		return nil, err
	}
	idlers := make([]*editor, c.idle)
	if err := parallel(ctx, c.idle, c.connectPar, func(i int) error {
		e, err := dial(ctx, nodes[c.socketNode(len(eds)+i, len(nodes))], accts[(len(eds)+i)%users].token, docs[i%c.docs], fmt.Sprintf("i%d", i), r, 0, idle)
		idlers[i] = e
		return err
	}); err != nil {
		return nil, err
	}
	defer func() {
		for _, e := range slices.Concat(eds, idlers) {
			if e != nil {
				e.ws.CloseNow()
			}
		}
	}()
	rssAfter := clusterRSS(ctx, owner, nodes)

	res, err := measureRun(ctx, r, c, eds, progress, result{Target: "tandem", Full: min(c.full, c.editors), Nodes: len(nodes), PerNode: load})
	res.setRSSPerConn(rssBefore, rssAfter, sockets)
	if err != nil {
		return res, err
	}

	fmt.Fprintf(progress, "checking convergence...\n")
	states := make(map[string]docState, c.docs)
	for _, d := range docs {
		text, version, err := owner.content(ctx, d)
		if err != nil {
			return res, err
		}
		stored, err := owner.storedOps(ctx, d)
		if err != nil {
			return res, err
		}
		states[d] = docState{text: text, version: version, stored: stored}
		res.FinalOps += version
		res.Problems = append(res.Problems, nodesAgree(ctx, owner, nodes, d, text, version)...)
	}
	for _, e := range eds {
		if err := e.catchUp(states[e.doc].version); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}
	ackedIDs := map[string]int64{}
	r.acked.Range(func(k, v any) bool { ackedIDs[k.(string)] = v.(int64); return true })
	finals := make([]final, len(eds))
	for i, e := range eds {
		finals[i] = e.final()
	}
	res.Problems = append(res.Problems, checkConvergence(states, finals, ackedIDs)...)
	res.Converged = len(res.Problems) == 0
	if !res.Converged {
		return res, errors.New("editors diverged, ops were lost or nodes disagree")
	}
	return res, nil
}

// isFull reports whether a document's editor k (from 0) is one of its
// c.full full editors, which are spread evenly over its editors.
func (c config) isFull(k int) bool {
	f := min(c.full, c.editors)
	return k*f/c.editors != (k+1)*f/c.editors
}

// socketNode is the index of the node that socket n (editors first, in
// document order, then idle sockets) connects to. The sockets of one
// document are numbered from 0 (its editors, then its idle sockets) and
// dealt over the nodes in turn, so a document with at least as many
// editors as there are nodes has editors on every node.
func (c config) socketNode(n, nodes int) int {
	var k int
	if n < c.docs*c.editors {
		k = n % c.editors
	} else {
		k = c.editors + (n-c.docs*c.editors)/c.docs
	}
	return k % nodes
}

// clusterRSS is the sum of the nodes' resident memory (a node that does
// not report it counts 0).
func clusterRSS(ctx context.Context, a *api, nodes []string) float64 {
	var sum float64
	for _, n := range nodes {
		v, _ := a.at(n).rss(ctx)
		sum += v
	}
	return sum
}

// parallel runs fn(0..n-1) with at most par at once, stopping at the first
// error.
func parallel(ctx context.Context, n, par int, fn func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := 0
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
