package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"tandem/ot"
)

// pump drives one simulated editor, whatever server it speaks to: it types
// at a rate (or in a closed loop) and hands the socket's messages, of type
// M, to the editor, until told to stop.
type pump[M any] struct {
	name    string
	msgs    <-chan M
	ended   <-chan error // why the socket closed, once msgs is closed
	rng     *rand.Rand
	handle  func(m M, closedLoop bool) error
	typeOne func() error
}

// loop types at rate ops/s (0: a closed loop, the next op when the last is
// acknowledged) until stop, then handles messages until synced holds.
func (p pump[M]) loop(rate float64, stop <-chan struct{}, synced func() bool) error {
	closedLoop := rate <= 0
	tick, release := typingTicks(rate, p.rng)
	defer release()
	if closedLoop {
		if err := p.typeOne(); err != nil {
			return err
		}
	}
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return fmt.Errorf("%s: socket closed: %w", p.name, <-p.ended)
			}
			if err := p.handle(m, closedLoop); err != nil {
				return err
			}
		case <-tick:
			if err := p.typeOne(); err != nil {
				return err
			}
		case <-stop:
			return p.await(synced, func() string { return "edits not acknowledged within 30s" })
		}
	}
}

// await handles messages until done holds, for at most settleTimeout.
func (p pump[M]) await(done func() bool, stuck func() string) error {
	deadline := time.After(settleTimeout)
	for !done() {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return fmt.Errorf("%s: socket closed: %w", p.name, <-p.ended)
			}
			if err := p.handle(m, false); err != nil {
				return err
			}
		case <-deadline:
			return fmt.Errorf("%s: %s", p.name, stuck())
		}
	}
	return nil
}

// settleTimeout is how long an editor may take to have its edits
// acknowledged, or to catch up, once typing has stopped.
const settleTimeout = 30 * time.Second

// typingTicks is the clock of an editor typing at rate ops/s, started
// after a random phase (it sleeps that long) so that editors do not type in
// lockstep; nil for a closed loop (rate 0), where it leaves rng alone.
// release stops it.
func typingTicks(rate float64, rng *rand.Rand) (tick <-chan time.Time, release func()) {
	if rate <= 0 {
		return nil, func() {}
	}
	period := time.Duration(float64(time.Second) / rate)
	time.Sleep(time.Duration(rng.Int64N(int64(period))))
	t := time.NewTicker(period)
	return t.C, t.Stop
}

// looper is an editor of either server, as a run drives it.
type looper interface {
	loop(rate float64, stop <-chan struct{}) error
}

// measureRun drives the editors through the warm-up and the measured
// window and fills in res (its target and nodes set by the caller). It
// returns nil if ctx ended before anything was measured; if editors
// failed, the result and an error.
func measureRun[E looper](ctx context.Context, r *run, c config, eds []E, progress io.Writer, res result) (*result, error) {
	loops := make([]func(stop <-chan struct{}) error, len(eds))
	for i, e := range eds {
		loops[i] = func(stop <-chan struct{}) error { return e.loop(c.rate, stop) }
	}
	m, err := r.measure(ctx, c, loops, progress)
	if err != nil {
		return nil, err
	}
	res.Docs, res.Editors, res.Rate, res.Idle = c.docs, c.editors, c.rate, c.idle
	res.Seconds, res.AckedOps, res.OpsPerSec = m.elapsed.Seconds(), m.acked, float64(m.acked)/m.elapsed.Seconds()
	res.Ack, res.Remote, res.Errors = m.ack, m.remote, map[string]int64{}
	res.Composed, res.Generator, res.Server = m.composed, m.generator, m.server
	r.errors.Range(func(k, v any) bool { res.Errors[k.(string)] = *v.(*int64); return true })
	if len(m.errs) > 0 {
		res.Problems = append(res.Problems, errors.Join(m.errs...).Error())
		return &res, fmt.Errorf("%d editors failed; first: %w", len(m.errs), m.errs[0])
	}
	return &res, nil
}

// measured is what one run's measured window saw.
type measured struct {
	elapsed     time.Duration
	acked       int64
	ack, remote summary
	composed    int64     // composed ops received
	generator   procLoad  // the load generator's CPU
	server      *procLoad // the server's (its first node's), if it reports it
	errs        []error   // the editors' own failures
}

// measure runs every editor's loop: a warm-up, then c.duration measured
// (progress each second), then it stops them and waits until their edits
// are acknowledged. It fails only if ctx ends during the warm-up.
func (r *run) measure(ctx context.Context, c config, loops []func(stop <-chan struct{}) error, progress io.Writer) (measured, error) {
	stop := make(chan struct{})
	errc := make(chan error, len(loops))
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() { errc <- loop(stop) })
	}
	fmt.Fprintf(progress, "warming up for %v...\n", c.warmup)
	if !sleep(ctx, c.warmup) {
		close(stop)
		wg.Wait()
		return measured{}, ctx.Err()
	}
	r.ackLat.reset()
	r.remoteLat.reset()
	self0 := selfSample()
	var srv0 cpuSample
	srvOK := false
	if r.serverSample != nil {
		srv0, srvOK = r.serverSample(ctx)
	}
	close(r.measuring)
	start := time.Now()
	t := time.NewTicker(time.Second)
	for end := start.Add(c.duration); time.Now().Before(end); {
		select {
		case <-t.C:
			el := time.Since(start).Seconds()
			fmt.Fprintf(progress, "\r%5.0fs  %8.0f acked ops/s  p99 remote %6.1f ms ", el, float64(r.ackedOps.get())/el, r.remoteLat.p99())
		case <-ctx.Done():
			end = time.Now()
		}
	}
	t.Stop()
	m := measured{elapsed: time.Since(start), acked: r.ackedOps.get(), ack: r.ackLat.summary(), remote: r.remoteLat.summary(),
		composed: r.composed.get(), generator: loadBetween(self0, selfSample(), true)}
	if srvOK {
		if srv1, ok := r.serverSample(ctx); ok {
			l := loadBetween(srv0, srv1, false)
			m.server = &l
		}
	}
	fmt.Fprintln(progress)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			m.errs = append(m.errs, err)
		}
	}
	return m, nil
}

// typeInto makes one random edit to a text of n code points, as a
// person's keystroke, applies it to the editor's copy and sends it, or,
// while an op is in flight, composes it into *buffer (the client rule of
// both protocols).
func typeInto(rng *rand.Rand, n int, apply func(ot.Op) error, inFlight bool, buffer **ot.Op, send func(ot.Op) error) error {
	op := randomEdit(rng, n)
	if err := apply(op); err != nil {
		return fmt.Errorf("local edit: %w", err)
	}
	switch {
	case !inFlight:
		return send(op)
	case *buffer == nil:
		*buffer = &op
	default:
		c, err := ot.Compose(**buffer, op)
		if err != nil {
			return fmt.Errorf("compose: %w", err)
		}
		*buffer = &c
	}
	return nil
}
