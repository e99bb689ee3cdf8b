package collab

import "time"

// pacer sets how long the writers of a room's sockets gather messages into
// one frame (adaptive coalescing). Every op goes to every member, so a
// room's writes grow with members × ops per second: 1,000 editors typing
// once a second each is a million messages a second. While that stays
// within the room's frame budget (--room-frames-per-second) the window is
// the configured --coalesce; above it the window grows to members / budget,
// up to --coalesce-max, so each socket gets at most budget / members frames
// a second and the room's writes stay near its budget whatever its size.
// A writer only lingers while it is receiving a stream, and never holds an
// ack (conn_write.go): a quiet room, and every author's ack, go out at once.
type pacer struct {
	since      time.Time // start of the current measuring period
	deliveries int       // messages sent to members since then
	window     time.Duration
}

// pacePeriod is how often a room's window is set again from its rate.
const pacePeriod = 250 * time.Millisecond

// note counts one op sent to members sockets at now and returns the
// room's coalescing window.
func (p *pacer) note(now time.Time, members int, cfg *Config) time.Duration {
	if cfg.Coalesce <= 0 {
		return 0 // coalescing is off
	}
	p.deliveries += members
	elapsed := now.Sub(p.since)
	// The window is set again every period, and at once when the period's
	// budget is spent before its end: a room that gets busy is paced
	// within a few ops.
	spent := p.deliveries >= int(float64(cfg.RoomFrames)*pacePeriod.Seconds())
	if elapsed < pacePeriod && !spent && p.window > 0 {
		return p.window
	}
	p.window = cfg.Coalesce
	if perSecond := float64(p.deliveries) / elapsed.Seconds(); perSecond > float64(cfg.RoomFrames) {
		grown := time.Duration(float64(members) / float64(cfg.RoomFrames) * float64(time.Second))
		p.window = min(max(grown, cfg.Coalesce), cfg.CoalesceMax)
	}
	p.since, p.deliveries = now, 0
	return p.window
}
