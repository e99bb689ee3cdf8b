package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// result is what a benchmark reports.
type result struct {
	Target     string           `json:"target"`
	Docs       int              `json:"docs"`
	Editors    int              `json:"editors_per_doc"`
	Full       int              `json:"full_editors_per_doc"`
	Rate       float64          `json:"rate_per_editor"`
	Idle       int              `json:"idle_sockets"`
	Seconds    float64          `json:"seconds"`
	AckedOps   int64            `json:"acked_ops"`
	OpsPerSec  float64          `json:"acked_ops_per_sec"`
	Ack        summary          `json:"ack_latency"`
	Remote     summary          `json:"remote_latency"`
	Errors     map[string]int64 `json:"errors"`
	RSSPerConn float64          `json:"server_rss_bytes_per_socket"`
	Composed   int64            `json:"composed_ops_received"` // by all editors; the timed ops in them are timed at their arrival
	Generator  procLoad         `json:"generator_cpu"`
	Server     *procLoad        `json:"server_cpu,omitempty"` // the first node's; nil when it does not report it
	Converged  bool             `json:"converged"`
	Problems   []string         `json:"problems,omitempty"`
	FinalOps   int64            `json:"final_versions_total"`
	Nodes      int              `json:"nodes"`
	PerNode    []nodeLoad       `json:"per_node"`
}

// nodeLoad is how many of a run's sockets one node of the cluster held.
type nodeLoad struct {
	URL     string `json:"url"`
	Editors int    `json:"editors"`
	Idle    int    `json:"idle_sockets"`
}

// setRSSPerConn records the server's memory per socket from its resident
// memory before and after the run's sockets connected (nothing if it did
// not grow, or r is nil).
func (r *result) setRSSPerConn(before, after float64, sockets int) {
	if r != nil && sockets > 0 && after > before {
		r.RSSPerConn = (after - before) / float64(sockets)
	}
}

func (r *result) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	mode := "closed loop"
	if r.Rate > 0 {
		mode = fmt.Sprintf("%g ops/s each", r.Rate)
	}
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	fmt.Fprintf(tw, "scenario\t%d docs × %d editors (%s, %d full), %d idle sockets, %.0fs measured\n", r.Docs, r.Editors, mode, r.Full, r.Idle, r.Seconds)
	for i, n := range r.PerNode {
		label := ""
		if i == 0 {
			label = fmt.Sprintf("nodes (%d)", r.Nodes)
		}
		fmt.Fprintf(tw, "%s\t%s: %d editors, %d idle sockets\n", label, n.URL, n.Editors, n.Idle)
	}
	fmt.Fprintf(tw, "acked ops/s\t%.0f (%d ops)\n", r.OpsPerSec, r.AckedOps)
	fmt.Fprintf(tw, "latency\tp50\tp95\tp99\tmax\n")
	fmt.Fprintf(tw, "  send → ack (ms)\t%.2f\t%.2f\t%.2f\t%.2f\n", r.Ack.P50, r.Ack.P95, r.Ack.P99, r.Ack.Max)
	fmt.Fprintf(tw, "  send → others (ms)\t%.2f\t%.2f\t%.2f\t%.2f\n", r.Remote.P50, r.Remote.P95, r.Remote.P99, r.Remote.Max)
	if r.RSSPerConn > 0 {
		fmt.Fprintf(tw, "server RSS per socket\t%.1f KiB\n", r.RSSPerConn/1024)
	} else {
		fmt.Fprintf(tw, "server RSS per socket\tnot measured\n")
	}
	if r.Composed > 0 {
		fmt.Fprintf(tw, "composed ops received\t%d (the timed ops in them timed at their arrival)\n", r.Composed)
	}
	switch {
	case r.Server != nil && r.Target == "sharedb":
		// Node has no scheduler waits to report.
		fmt.Fprintf(tw, "server CPU\t%.0f%% of a core\n", 100*r.Server.Cores)
	case r.Server != nil:
		fmt.Fprintf(tw, "server CPU\t%.0f%% of a core, %.1f%% of its scheduler waits over ~1 ms\n", 100*r.Server.Cores, 100*r.Server.WaitsOver1ms)
	}
	fmt.Fprintf(tw, "load generator CPU\t%.0f%% of a core, %.1f%% of its scheduler waits over 1 ms (p99 %.1f ms)\n",
		100*r.Generator.Cores, 100*r.Generator.WaitsOver1ms, r.Generator.P99Ms)
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	errs := "none"
	if len(codes) > 0 {
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%s=%d", c, r.Errors[c])
		}
		errs = strings.Join(parts, " ")
	}
	fmt.Fprintf(tw, "errors\t%s\n", errs)
	conv := "yes: every editor has the server's version and length, every full editor its text, every acked op stored once"
	if !r.Converged {
		conv = "NO: " + strings.Join(r.Problems, "; ")
	}
	fmt.Fprintf(tw, "converged\t%s\n", conv)
	tw.Flush()
}
