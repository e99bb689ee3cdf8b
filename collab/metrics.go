package collab

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus series.
type metrics struct {
	rooms      prometheus.Gauge
	conns      prometheus.Gauge
	sequenced  prometheus.Counter
	batch      prometheus.Histogram
	ackLatency prometheus.Histogram
	commitTime prometheus.Histogram // a batch's write to the store
	dropped    prometheus.Counter
	limited    prometheus.Counter
	frames     prometheus.Counter // frames written to sockets (clients' and links')
	framedMsgs prometheus.Counter // messages in them

	// In a cluster.
	leases    prometheus.Gauge   // document leases held
	linksIn   prometheus.Gauge   // relays linked to this node's rooms
	linksOut  prometheus.Gauge   // this node's links to owners
	failovers prometheus.Counter // links lost and found again
	fenced    prometheus.Counter // commits refused for a lost lease
	stepDowns prometheus.Counter // rooms that stopped sequencing

	webhooks *prometheus.CounterVec // webhook attempts by outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tandem_rooms_open", Help: "Document rooms open."}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tandem_connections_open", Help: "WebSocket connections open."}),
		sequenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_ops_sequenced_total", Help: "Operations committed and acknowledged."}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tandem_commit_batch_ops", Help: "Operations per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		ackLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tandem_ack_latency_seconds", Help: "From receiving an operation to acknowledging it (after commit).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tandem_commit_seconds", Help: "Writing one room's batch of operations to the store, from handing it over to its outcome (store appends are group-committed, so this includes waiting for the commit before).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_socket_frames_total", Help: "WebSocket frames written, to clients and to relay nodes' links (a frame holds one message or a JSON array of several)."}),
		framedMsgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_socket_messages_total", Help: "Messages written in those frames: over tandem_socket_frames_total, how well writes are coalesced."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_slow_subscribers_dropped_total", Help: "Connections dropped from a room for falling behind."}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_rate_limited_messages_total", Help: "Socket messages refused by a rate limit."}),
		leases: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tandem_cluster_leases_held", Help: "Document leases this node holds (as of its last renewal)."}),
		linksIn: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tandem_cluster_links_in", Help: "Links from relay nodes to documents this node owns."}),
		linksOut: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tandem_cluster_links_out", Help: "Links from this node to the owners of documents it relays."}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_cluster_failovers_total", Help: "Links to an owner lost, after which the relay found the owner again or took over."}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_cluster_fenced_commits_total", Help: "Commits refused because the document's lease had moved on or lapsed."}),
		stepDowns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tandem_cluster_step_downs_total", Help: "Rooms that stopped sequencing: their lease was lost, or a commit was fenced or failed."}),
	}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tandem_webhook_attempts_total",
		Help: "Webhook delivery attempts by outcome: delivered (2xx), failed (to be retried), refused (a 4xx: not retried), abandoned (the last retry failed; counted besides its failure)."},
		[]string{"outcome"})
	for _, o := range []string{"delivered", "failed", "refused", "abandoned"} {
		m.webhooks.WithLabelValues(o)
	}
	reg.MustRegister(m.webhooks)
	reg.MustRegister(m.rooms, m.conns, m.sequenced, m.batch, m.ackLatency, m.commitTime, m.dropped, m.limited, m.frames, m.framedMsgs,
		m.leases, m.linksIn, m.linksOut, m.failovers, m.fenced, m.stepDowns)
	return m
}
