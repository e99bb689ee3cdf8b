package collab

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// writeLoop is the connection's writer: it sends what is queued, several
// messages to a frame when a stream is coming in, pings the peer, and sends
// the close frame when the connection is kicked.
func (c *Conn) writeLoop() {
	var pings sync.WaitGroup
	defer pings.Wait()
	defer c.cancel()   // ends the reader and the pings
	var batch [][]byte // reused; grows to maxFrameMsgs only if a burst needs it
	var lastWrite time.Time
	keepalive := time.NewTicker(c.hub.cfg.PingInterval)
	defer keepalive.Stop()
	for {
		select {
		case <-keepalive.C:
			c.ping(&pings)
		case <-c.kicked:
			if c.closeCode != closePolicy {
				c.flush(batch)
			}
			_ = c.ws.Close(c.closeCode, c.closeReason)
			return
		case <-c.out.ready:
			batch = c.out.take(batch[:0], maxFrameMsgs)
			if len(batch) == 0 {
				continue
			}
			if c.busy(batch, lastWrite) {
				batch = c.linger(batch)
			}
			lastWrite = time.Now()
			if err := c.write(batch); err != nil {
				c.kick(closeNormal, "")
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

// ackPrefix starts every encoded ack.
var ackPrefix = []byte(`{"type":"ack"`)

// busy reports whether the writer should linger before writing msg: only
// when coalescing is on, the connection is receiving a stream (it wrote a
// frame within the linger period), and msg is not an ack, which its author
// is waiting for. A quiet room, and every author's ack, go out at once.
func (c *Conn) busy(batch [][]byte, lastWrite time.Time) bool {
	linger := c.lingerPeriod()
	return linger > 0 && time.Since(lastWrite) < linger && len(batch) < maxFrameMsgs-1 && !hasAck(batch)
}

// lingerPeriod is the coalescing window: --coalesce, or longer in a room
// whose fan-out is over its frame budget (pacer.go).
func (c *Conn) lingerPeriod() time.Duration {
	if c.hub.cfg.Coalesce <= 0 {
		return 0
	}
	return c.out.lingerFor(c.hub.cfg.Coalesce)
}

// linger gathers more messages for up to the coalescing period: in a busy
// room one frame then carries several, and a write syscall per message per
// subscriber is what limits a big room. The writer sleeps through the
// period, woken early only by an ack (never held back) or a full frame.
func (c *Conn) linger(batch [][]byte) [][]byte {
	if c.out.startLinger(len(batch)) {
		timer := time.NewTimer(c.lingerPeriod())
		select {
		case <-c.out.ready:
		case <-timer.C:
		case <-c.kicked:
		}
		timer.Stop()
	}
	return c.out.take(batch, maxFrameMsgs)
}

// flush writes everything still queued, for a clean close.
func (c *Conn) flush(batch [][]byte) {
	for {
		batch = c.out.take(batch[:0], maxFrameMsgs)
		if len(batch) == 0 || c.write(batch) != nil {
			return
		}
	}
}

// write sends one frame: a message, or a JSON array of several in order.
func (c *Conn) write(batch [][]byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.WriteTimeout)
	defer cancel()
	if len(batch) == 1 {
		return c.ws.Write(ctx, websocket.MessageText, batch[0])
	}
	size := 1 + len(batch)
	for _, m := range batch {
		size += len(m)
	}
	frame := make([]byte, 0, size)
	frame = append(frame, '[')
	for i, m := range batch {
		if i > 0 {
			frame = append(frame, ',')
		}
		frame = append(frame, m...)
	}
	frame = append(frame, ']')
	return c.ws.Write(ctx, websocket.MessageText, frame)
}

// ping checks that the peer answers, from a goroutine of its own that lives
// only while the ping is out (an idle socket then holds two goroutines, not
// three); a peer that does not answer in time is dropped.
func (c *Conn) ping(wg *sync.WaitGroup) {
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PingTimeout)
		defer cancel()
		if err := c.ws.Ping(ctx); err != nil && c.ctx.Err() == nil {
			c.kick(closePolicy, "no pong")
		}
	})
}
