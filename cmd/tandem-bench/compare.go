package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// scenario is one row of the comparison table: a load, and how its cell
// reads (latency and rate for typing rooms, rate for closed loops, memory
// for idle sockets).
type scenario struct {
	name, desc string
	load       config
	show       string // "latency", "throughput" or "memory"
}

// scenarios are the README's rows, in order. Durations are the README's.
var scenarios = []scenario{
	{"typing", "1 doc × 10 editors at 5 ops/s", config{docs: 1, editors: 10, rate: 5, duration: 10 * time.Second, warmup: 2 * time.Second}, "latency"},
	{"room-100", "1 doc × 100 editors at 2 ops/s", config{docs: 1, editors: 100, rate: 2, duration: 10 * time.Second, warmup: 2 * time.Second}, "latency"},
	{"closed-4", "1 doc × 4 editors, closed loop", config{docs: 1, editors: 4, duration: 10 * time.Second, warmup: 2 * time.Second}, "throughput"},
	{"closed-64", "1 doc × 64 editors, closed loop", config{docs: 1, editors: 64, duration: 10 * time.Second, warmup: 2 * time.Second}, "throughput"},
	{"room-300", "1 doc × 300 editors at 1 op/s", config{docs: 1, editors: 300, rate: 1, duration: 10 * time.Second, warmup: 3 * time.Second}, "latency"},
	{"room-500", "1 doc × 500 editors at 1 op/s, 20 s", config{docs: 1, editors: 500, rate: 1, duration: 20 * time.Second, warmup: 5 * time.Second}, "latency"},
	{"room-1000", "1 doc × 1,000 editors at 1 op/s, 60 s", config{docs: 1, editors: 1000, rate: 1, duration: 60 * time.Second, warmup: 5 * time.Second}, "latency"},
	{"docs-1000", "1,000 docs × 3 editors at 1 op/s", config{docs: 1000, editors: 3, rate: 1, duration: 10 * time.Second, warmup: 3 * time.Second}, "latency"},
	{"idle-10k", "10,000 idle sockets over 100 docs", config{docs: 100, idle: 10000, duration: 3 * time.Second, warmup: time.Second}, "memory"},
}

// server is one column: a label, and the target and URL to drive.
type server struct{ label, target, url string }

// compareRuns is the outcome of one scenario on one server, run by run.
type compareRuns struct {
	results []*result
	failed  []string // runs that ended in an error
}

// runCompare is `tandem-bench compare`: every scenario against every
// server, alternating servers within each run, and a Markdown table of
// medians.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tandem-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers []server
	fs.Func("server", "a column: LABEL=URL (http(s):// is Tandem, ws(s):// is ShareDB); repeat in column order", func(s string) error {
		label, u, ok := strings.Cut(s, "=")
		if !ok || label == "" || u == "" {
			return errors.New("want LABEL=URL")
		}
		target := "tandem"
		if strings.HasPrefix(u, "ws") {
			target = "sharedb"
		}
		servers = append(servers, server{label, target, u})
		return nil
	})
	runs := fs.Int("runs", 3, "runs of each scenario on each server (the table shows medians)")
	only := fs.String("only", "", "comma-separated scenarios to run (default all: "+scenarioNames()+")")
	skipped := map[string]bool{}
	fs.Func("skip", "comma-separated LABEL:SCENARIO pairs not to run (shown as not run); repeat to add more", func(s string) error {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				skipped[p] = true
			}
		}
		return nil
	})
	connectPar := fs.Int("connect-parallel", 64, "sockets opened at once while connecting")
	full := fs.Int("full-editors", 20, "of each document's editors, how many keep the text (as tandem-bench's flag)")
	duration := fs.Duration("duration", 0, "measure each run this long instead of the scenario's own (for a quick look)")
	warmup := fs.Duration("warmup", 0, "warm up this long instead of the scenario's own")
	settleFor := fs.Duration("settle", 30*time.Second, "before each run, wait up to this long for the machine's CPUs to be under 15% busy (a server working off the last run's backlog); 0: do not wait")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tandem-bench compare --server LABEL=URL ... [flags]\n\nRuns the README's scenarios against each server in turn and prints a Markdown table of medians.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	chosen, err := pickScenarios(*only)
	if err == nil && len(servers) == 0 {
		err = errors.New("no --server given")
	}
	if err == nil && *runs < 1 {
		err = errors.New("--runs must be at least 1")
	}
	if err != nil {
		fmt.Fprintf(stderr, "tandem-bench compare: %v\n", err)
		return 2
	}
	out := make(map[string]*compareRuns)
	for run := range *runs {
		for _, sc := range chosen {
			for _, sv := range servers {
				if skipped[sv.label+":"+sc.name] {
					continue
				}
				c := sc.load
				c.target, c.url, c.seed, c.connectPar, c.full = sv.target, sv.url, uint64(run+1), *connectPar, *full
				if *duration > 0 {
					c.duration = *duration
				}
				if *warmup > 0 {
					c.warmup = *warmup
				}
				if err := c.validate(); err != nil {
					fmt.Fprintf(stderr, "tandem-bench compare: %s on %s: %v\n", sc.name, sv.label, err)
					return 2
				}
				if *settleFor > 0 {
					if busy, ok := settle(ctx, *settleFor); !ok && ctx.Err() == nil {
						fmt.Fprintf(stderr, "run %d/%d %-10s %-16s starts on a busy machine (%.0f%% of CPU in use after %v)\n", run+1, *runs, sc.name, sv.label, 100*busy, *settleFor)
					}
				}
				res, err := runApart(ctx, c)
				if ctx.Err() != nil {
					return 1
				}
				key := sv.label + ":" + sc.name
				if out[key] == nil {
					out[key] = &compareRuns{}
				}
				cr := out[key]
				if res != nil {
					cr.results = append(cr.results, res)
				}
				if err != nil {
					cr.failed = append(cr.failed, err.Error())
				}
				fmt.Fprintf(stderr, "run %d/%d %-10s %-16s %s\n", run+1, *runs, sc.name, sv.label, oneLine(sc, res, err))
			}
		}
	}
	printCompare(stdout, chosen, servers, out, skipped)
	return 0
}

func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return strings.Join(names, ",")
}

func pickScenarios(only string) ([]scenario, error) {
	if strings.TrimSpace(only) == "" {
		return scenarios, nil
	}
	var chosen []scenario
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("--only: no scenario %q (have %s)", name, scenarioNames())
		}
		chosen = append(chosen, scenarios[i])
	}
	return chosen, nil
}

// oneLine is a run's progress line.
func oneLine(sc scenario, res *result, err error) string {
	if res == nil {
		return "failed: " + err.Error()
	}
	s := cell(sc, []*result{res})
	if err != nil {
		s += " — " + err.Error()
	}
	return s
}

// cell is a table cell: the medians over runs of the scenario's figures.
func cell(sc scenario, rs []*result) string {
	med := func(f func(*result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var s string
	switch sc.show {
	case "memory":
		if med(func(r *result) float64 { return r.RSSPerConn }) == 0 {
			return "not measured"
		}
		s = fmt.Sprintf("%.1f KiB/socket", med(func(r *result) float64 { return r.RSSPerConn })/1024)
	case "throughput":
		s = fmt.Sprintf("**%s ops/s** (ack p99 %s)", thousands(med(func(r *result) float64 { return r.OpsPerSec })),
			ms(med(func(r *result) float64 { return r.Ack.P99 })))
	default:
		offered := float64(sc.load.docs*sc.load.editors) * sc.load.rate
		s = fmt.Sprintf("**p99 %s** (p50 %s), %s of %s ops/s", ms(med(func(r *result) float64 { return r.Remote.P99 })),
			ms(med(func(r *result) float64 { return r.Remote.P50 })), thousands(med(func(r *result) float64 { return r.OpsPerSec })), thousands(offered))
	}
	bad := 0
	for _, r := range rs {
		if !r.Converged {
			bad++
		}
	}
	if bad > 0 {
		s += fmt.Sprintf(", %d of %d runs did not converge", bad, len(rs))
	}
	return s
}

func ms(v float64) string {
	if v >= 100 {
		return thousands(v) + " ms"
	}
	return fmt.Sprintf("%.1f ms", v)
}

// thousands formats v rounded, with commas.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func printCompare(w io.Writer, chosen []scenario, servers []server, out map[string]*compareRuns, skipped map[string]bool) {
	fmt.Fprint(w, "| scenario |")
	for _, sv := range servers {
		fmt.Fprintf(w, " %s |", sv.label)
	}
	fmt.Fprint(w, "\n|---|")
	for range servers {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, sc := range chosen {
		fmt.Fprintf(w, "| %s (`%s`) |", sc.desc, sc.name)
		for _, sv := range servers {
			cr := out[sv.label+":"+sc.name]
			switch {
			case skipped[sv.label+":"+sc.name]:
				fmt.Fprint(w, " not run |")
			case cr == nil || len(cr.results) == 0:
				fmt.Fprint(w, " failed |")
			default:
				s := cell(sc, cr.results)
				if len(cr.failed) > 0 {
					s += fmt.Sprintf("; %d runs failed", len(cr.failed))
				}
				fmt.Fprintf(w, " %s |", s)
			}
		}
		fmt.Fprintln(w)
	}
}

// runApart runs the benchmark c in a process of its own (this program
// again, with c's flags and --json), so that no run inherits another's
// heap, garbage or goroutines: the generator collects garbage rarely
// (GOGC 400), and a run against a server that fell far behind leaves
// gigabytes to collect. It returns the result the process printed, if
// any, and the error it ended with.
func runApart(ctx context.Context, c config) (*result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	c.jsonOut = true
	cmd := exec.CommandContext(ctx, exe, c.args()...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res *result
	if stdout.Len() > 0 {
		res = new(result)
		if err := json.Unmarshal(stdout.Bytes(), res); err != nil {
			return nil, fmt.Errorf("read the run's result: %w", err)
		}
	}
	if runErr != nil {
		// Its last line says why: "tandem-bench: ...".
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		why, _ := strings.CutPrefix(lines[len(lines)-1], "tandem-bench: ")
		if why == "" {
			why = runErr.Error()
		}
		return res, errors.New(why)
	}
	return res, nil
}

// childEnv is set to 1 in the environment of a run that runApart starts.
// tandem-bench itself does not need it; a test binary, which runApart
// also starts (os.Executable), runs the benchmark when it is set.
const childEnv = "TANDEM_BENCH_CHILD"
