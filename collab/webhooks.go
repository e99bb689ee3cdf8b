package collab

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tandem/store"
)

// Webhooks (docs/security.md, "Webhooks"): when a document owned by a host
// app with a webhook changes, Tandem POSTs {doc, version, title} to the
// app's URL, signed (webhook_send.go). Deliveries are debounced per
// document: the first change after a quiet spell schedules one
// WebhookDebounce later, changes meanwhile fold into it (it carries the
// latest version and title), and a room that closes sends what is
// scheduled at once. A failed attempt is retried after WebhookBackoff,
// doubling, up to WebhookRetries attempts; a retry carries the latest
// version too.
//
// The room never waits for any of it: it reports a commit with changed,
// which takes a mutex held only for a map update (no I/O under it), and
// everything else happens on the dispatcher's goroutines. Only the node
// that owns a room commits (a relay forwards), so in a cluster only the
// owner delivers.
//
// Which app, if any, a document belongs to is looked up when a delivery
// is due (store.DocWebhook: one indexed query per document per
// WebhookDebounce at most), not on the room's path: documents of people,
// or of apps without a webhook, cost that query and nothing else; and
// nothing at all on a server where no app has a webhook (webhookPoll).

// webhookPoll is how often a server looks whether any app has a webhook.
// While none has, a commit costs the dispatcher one atomic load: nothing is
// scheduled or looked up. A webhook set on this node counts at once; one set
// elsewhere (another node, `tandem app webhook`) within webhookPoll.
const webhookPoll = 5 * time.Second

// webhooks is the hub's dispatcher.
type webhooks struct {
	active atomic.Bool // some app has a webhook (as of the last look)

	store   store.Webhooks
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	send    func(ctx context.Context, doc string, h store.DocHook, version int64, attempt int) store.Delivery

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // capacity 1: the scheduler looks again
	slots  chan struct{} // WebhookWorkers: attempts under way

	mu       sync.Mutex
	docs     map[string]*hookDoc
	queue    dueQueue  // the documents' due times, soonest first (stale ones skipped)
	wakingAt time.Time // when the scheduler will look next (zero: not before a poke)
	closing  bool      // no more retries: Close is delivering what is due
}

// hookDoc is one document's delivery state.
type hookDoc struct {
	version int64     // the latest committed version reported
	due     time.Time // when to deliver; zero: nothing scheduled
	busy    bool      // an attempt is under way
	attempt int       // attempts made at the delivery under way (0: a fresh one)
	flush   bool      // the room closed while an attempt was under way: deliver what follows at once
	gen     int       // numbers due times: a queue entry of an earlier one is stale
}

func newWebhooks(st store.Webhooks, cfg Config, log *slog.Logger, m *metrics) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhooks{
		store: st, cfg: cfg, log: log, metrics: m,
		ctx: ctx, cancel: cancel,
		wake:  make(chan struct{}, 1),
		slots: make(chan struct{}, cfg.WebhookWorkers),
		docs:  make(map[string]*hookDoc),
	}
	w.send = newSender(cfg).send
	w.wg.Add(2)
	go w.schedule()
	go w.watch()
	return w
}

// watch looks every webhookPoll whether any app has a webhook.
func (w *webhooks) watch() {
	defer w.wg.Done()
	tick := time.NewTicker(webhookPoll)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(w.ctx, webhookPoll)
		any, err := w.store.AnyWebhooks(ctx)
		cancel()
		switch {
		case err == nil:
			w.active.Store(any)
		case w.ctx.Err() == nil:
			w.log.Warn("webhook: look for webhooks", "err", err) // keep what was known
		}
		select {
		case <-tick.C:
		case <-w.ctx.Done():
			return
		}
	}
}

// activate notes that a webhook was just set on this node.
func (w *webhooks) activate() { w.active.Store(true) }

// changed reports that the document's committed head is now version. It
// never blocks on I/O: the room calls it after each commit.
func (w *webhooks) changed(doc string, version int64) {
	if !w.active.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.docs[doc]
	if e == nil {
		e = &hookDoc{}
		w.docs[doc] = e
	}
	e.version = max(e.version, version)
	if e.due.IsZero() {
		w.plan(doc, e, time.Now().Add(w.cfg.WebhookDebounce))
	}
}

// closed reports that the document's room has stopped: a change waiting
// for its debounce is delivered now (a retry keeps its backoff).
func (w *webhooks) closed(doc string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.docs[doc]
	switch {
	case e == nil:
	case e.busy:
		e.flush = true
	case !e.due.IsZero() && e.attempt == 0:
		w.plan(doc, e, time.Now())
	}
}

// plan sets e's due time and queues it, waking the scheduler if it would
// sleep past it; w.mu is held. An entry busy with an attempt is queued
// again by finish.
func (w *webhooks) plan(doc string, e *hookDoc, due time.Time) {
	e.due = due
	e.gen++
	if !e.busy {
		heap.Push(&w.queue, dueEntry{due: due, doc: doc, gen: e.gen})
		if w.wakingAt.IsZero() || due.Before(w.wakingAt) {
			w.poke()
		}
	}
}

// poke wakes the scheduler; w.mu is held.
func (w *webhooks) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// schedule starts each delivery that is due, as a worker slot frees, and
// sleeps until the next one is.
func (w *webhooks) schedule() {
	defer w.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := w.startDue()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
	}
}

// startDue starts every due delivery there is a slot for and returns when
// the next one not yet due is (zero: none). It looks at the due ones only:
// the queue is a heap, so a wake costs O(log n) per entry it starts, not
// a scan of every document.
func (w *webhooks) startDue() (next time.Time) {
	w.mu.Lock()
	defer func() {
		w.wakingAt = next
		w.mu.Unlock()
	}()
	now := time.Now()
	for w.queue.Len() > 0 {
		top := w.queue[0]
		e := w.docs[top.doc]
		if e == nil || e.gen != top.gen || e.busy || e.due.IsZero() {
			heap.Pop(&w.queue) // stale: planned again since, or under way
			continue
		}
		if top.due.After(now) {
			return top.due
		}
		select {
		case w.slots <- struct{}{}:
		default:
			return time.Time{} // every slot is taken: a finishing attempt wakes us
		}
		heap.Pop(&w.queue)
		e.busy, e.due, e.flush = true, time.Time{}, false
		e.attempt++
		w.wg.Add(1)
		go w.deliver(top.doc, e.version, e.attempt)
	}
	return time.Time{}
}

// deliver makes one attempt to deliver the document's change at version.
func (w *webhooks) deliver(doc string, version int64, attempt int) {
	defer w.wg.Done()
	outcome := w.attempt(doc, version, attempt)
	<-w.slots
	w.finish(doc, version, attempt, outcome)
}

// outcome is how an attempt ended.
type outcome int

const (
	delivered outcome = iota // a 2xx, or nothing to deliver
	retry                    // failed; worth another attempt
	refused                  // failed for good (a 4xx other than 408 and 429)
)

// attempt looks up the document's webhook and POSTs to it, and logs the
// attempt.
func (w *webhooks) attempt(doc string, version int64, attempt int) outcome {
	// Each store call and the POST are bounded, so that an attempt always
	// ends (and close, which waits for attempts, does too).
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.WebhookTimeout)
	defer cancel()
	h, err := w.store.DocWebhook(ctx, doc)
	if errors.Is(err, store.ErrNotFound) {
		return delivered // no app with a webhook owns it (or it is gone): nothing to send
	}
	if err != nil {
		w.log.Warn("webhook: look up the document's app", "doc", doc, "err", err)
		w.metrics.webhooks.WithLabelValues("failed").Inc()
		return retry
	}
	d := w.send(w.ctx, doc, h, max(version, h.Version), attempt)
	logCtx, cancelLog := context.WithTimeout(context.WithoutCancel(w.ctx), w.cfg.WebhookTimeout)
	defer cancelLog()
	if err := w.store.RecordDelivery(logCtx, d); err != nil {
		w.log.Warn("webhook: record delivery", "app", h.AppID, "doc", doc, "err", err)
	}
	switch {
	case d.Status >= 200 && d.Status < 300:
		w.metrics.webhooks.WithLabelValues("delivered").Inc()
		return delivered
	case d.Status >= 400 && d.Status < 500 && d.Status != 408 && d.Status != 429:
		w.metrics.webhooks.WithLabelValues("refused").Inc()
		return refused
	}
	w.metrics.webhooks.WithLabelValues("failed").Inc()
	return retry
}

// finish records an attempt's outcome: a retry is scheduled after its
// backoff; else the document is done, or a change that came meanwhile is
// scheduled.
func (w *webhooks) finish(doc string, version int64, attempt int, out outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.poke()
	e := w.docs[doc]
	e.busy = false
	if out == retry && !w.closing {
		if attempt < w.cfg.WebhookRetries {
			w.plan(doc, e, time.Now().Add(w.cfg.WebhookBackoff<<(attempt-1)))
			return
		}
		w.metrics.webhooks.WithLabelValues("abandoned").Inc()
		w.log.Warn("webhook: giving up", "doc", doc, "version", version, "attempts", attempt)
	}
	e.attempt = 0
	switch {
	case e.version > version && (e.flush || w.closing):
		w.plan(doc, e, time.Now())
	case e.version > version && e.due.IsZero():
		w.plan(doc, e, time.Now().Add(w.cfg.WebhookDebounce))
	case e.version > version:
		w.plan(doc, e, e.due) // changed meanwhile: queued now that it is free
	default:
		delete(w.docs, doc)
	}
}

// close delivers what is scheduled at once, one attempt each (no
// retries), waits for them until ctx is done, and stops.
func (w *webhooks) close(ctx context.Context) {
	w.mu.Lock()
	w.closing = true
	now := time.Now()
	for doc, e := range w.docs {
		if !e.busy {
			w.plan(doc, e, now)
		}
	}
	w.poke()
	w.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for w.pending() > 0 {
		select {
		case <-ctx.Done():
			w.stop()
			return
		case <-tick.C:
		}
	}
	w.stop()
}

// pending is how many documents have a delivery scheduled or under way.
func (w *webhooks) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.docs)
}

func (w *webhooks) stop() {
	w.cancel()
	w.wg.Wait()
}

// dueEntry is a document's due time in the queue.
type dueEntry struct {
	due time.Time
	doc string
	gen int
}

// dueQueue is a min-heap of due times (container/heap).
type dueQueue []dueEntry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
