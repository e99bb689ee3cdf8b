package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"
)

// sharedbURL checks --url for --target sharedb: one server, ws(s):// or
// http(s):// (taken as ws(s)://), and returns its WebSocket URL.
func sharedbURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || strings.Contains(raw, ",") {
		return "", fmt.Errorf("--url %q: --target sharedb wants one ws://host:port", raw)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http", "https":
		u.Scheme = "ws" + strings.TrimPrefix(u.Scheme, "http")
	default:
		return "", fmt.Errorf("--url %q: --target sharedb wants one ws://host:port", raw)
	}
	return u.String(), nil
}

// sharedbHTTP is the http(s) base URL of the ShareDB server at wsURL
// (server.js serves GET /metrics on the WebSocket's port).
func sharedbHTTP(wsURL string) string { return "http" + strings.TrimPrefix(wsURL, "ws") }

// benchShareDB runs the scenario against ShareDB (cmd/tandem-bench/sharedb):
// the same editors, rates, warm-up and measurement as bench, and the same
// checks at the end, with the server's snapshot and op history fetched over
// the protocol. Documents get fresh ids per run; the server makes them when
// first subscribed.
func benchShareDB(ctx context.Context, c config, progress io.Writer) (*result, error) {
	wsURL, err := sharedbURL(c.url)
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%d-%d", time.Now().UnixNano(), c.seed)
	docs := make([]string, c.docs)
	for d := range docs {
		docs[d] = fmt.Sprintf("bench-%s-%d", tag, d)
	}
	sockets := c.docs*c.editors + c.idle
	// The server's memory and CPU, from its GET /metrics (server.js).
	mon := newAPI(sharedbHTTP(wsURL))
	rssBefore, _ := mon.rss(ctx)
	r := &run{measuring: make(chan struct{}), serverSample: mon.serverSample}
	eds := make([]*sdbEditor, c.docs*c.editors)
	fmt.Fprintf(progress, "connecting %d sockets to ShareDB at %s...\n", sockets, wsURL)
	closeAll := func(conns []*sdbEditor) {
		for _, e := range conns {
			if e != nil {
				e.close()
			}
		}
	}
	defer func() { closeAll(eds) }()
	if err := parallel(ctx, len(eds), c.connectPar, func(i int) error {
		e, err := sdbJoin(ctx, wsURL, docs[i/c.editors], fmt.Sprintf("e%d", i), r, c.seed*1_000_003+uint64(i))
		eds[i] = e
		return err
	}); err != nil {
		return nil, err
	}
	idlers := make([]*sdbEditor, c.idle)
	defer func() { closeAll(idlers) }()
	if err := parallel(ctx, c.idle, c.connectPar, func(i int) error {
		e, err := sdbJoin(ctx, wsURL, docs[i%c.docs], fmt.Sprintf("i%d", i), r, 0)
		idlers[i] = e
		return err
	}); err != nil {
		return nil, err
	}
	for _, e := range idlers {
		go func() {
			for range e.msgs {
			}
		}()
	}

	rssAfter, _ := mon.rss(ctx)
	res, err := measureRun(ctx, r, c, eds, progress, result{Target: "sharedb", Full: c.editors, Nodes: 1, PerNode: []nodeLoad{{URL: wsURL, Editors: len(eds), Idle: c.idle}}})
	res.setRSSPerConn(rssBefore, rssAfter, sockets)
	if err != nil {
		return res, err
	}

	fmt.Fprintf(progress, "checking convergence...\n")
	checker, err := sdbDial(ctx, wsURL, "checker")
	if err != nil {
		return res, err
	}
	defer checker.close()
	states := make(map[string]docState, c.docs)
	snapshotV := make(map[string]int64, c.docs)
	for _, d := range docs {
		text, v, stored, err := checker.fetch(ctx, d)
		if err != nil {
			return res, err
		}
		// Counted in edits, as for Tandem: ShareDB's version 0 is the creation.
		states[d] = docState{text: text, version: v - 1, stored: stored}
		snapshotV[d] = v
		res.FinalOps += v - 1
	}
	finals := make([]final, len(eds))
	for i, e := range eds {
		v := snapshotV[e.doc]
		if err := e.pump().await(func() bool { return e.version >= v }, func() string {
			return fmt.Sprintf("stuck at version %d, server at %d", e.version, v)
		}); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
		finals[i] = e.final()
	}
	ackedIDs := map[string]int64{}
	r.acked.Range(func(k, v any) bool { ackedIDs[k.(string)] = v.(int64); return true })
	res.Problems = slices.Concat(res.Problems, checkConvergence(states, finals, ackedIDs))
	res.Converged = len(res.Problems) == 0
	if !res.Converged {
		return res, errors.New("editors diverged or ops were lost")
	}
	return res, nil
}
