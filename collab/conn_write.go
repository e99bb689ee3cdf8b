package collab

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

// serve runs the socket on a goroutine of its own, reading with read, and
// returns: the handler's goroutine (its stack grown by the handshake's
// session and store calls) ends, and net/http lets go of the request and
// its response, the connection being hijacked. An idle socket is then one
// goroutine blocked reading; its writer runs only while there is something
// to send, and a timer pings the peer. hello, if any, is sent first.
func (c *Conn) serve(ws *websocket.Conn, hello []byte, read func()) {
	c.ws = ws
	// The connection outlives the request and its context, which ends as
	// the handler returns.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(c.finished)
		defer c.hub.removeConn(c)
		defer c.cancel()
		if hello != nil {
			c.send(hello)
		}
		c.wmu.Lock()
		c.pinger = time.AfterFunc(c.hub.cfg.PingInterval, c.ping)
		c.bg.Go(c.writeLoop) // writing has been true since the start: this run sends the hello, or idles
		c.wmu.Unlock()
		read()
		c.leaveAll()
		c.kick(closeNormal, "")
		c.wmu.Lock()
		c.ended = true
		c.pinger.Stop()
		c.wmu.Unlock()
		c.bg.Wait()
	}()
}

// wake starts the writer unless it runs (or the socket is not yet served,
// or has been closed: then writing stays true).
func (c *Conn) wake() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.writing {
		c.writing = true
		c.bg.Go(c.writeLoop)
	}
}

// idle ends a writer's run if nothing is queued and the connection is not
// to be closed; it reports whether it did. A message pushed after the check
// finds writing false and starts the next run.
func (c *Conn) idle() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.out.release() || c.isKicked() {
		return false
	}
	c.writing = false
	c.frame = nil
	return true
}

func (c *Conn) isKicked() bool {
	select {
	case <-c.kicked:
		return true
	default:
		return false
	}
}

// writeLoop is one run of the connection's writer: it sends what is queued,
// several messages to a frame when a stream is coming in, until the queue
// is empty; or sends the close frame when the connection is kicked, after
// what is queued, and ends the connection (the run that does so leaves
// writing true, so that no other starts).
func (c *Conn) writeLoop() {
	var batch [][]byte   // grows to maxFrameMsgs only if a burst needs it
	var park *time.Timer // made on the run's first wait
	for {
		if c.isKicked() {
			if c.flushes() {
				c.flush(batch)
			}
			_ = c.ws.Close(c.closeCode, c.closeReason)
			c.cancel() // ends the reader and a ping
			return
		}
		batch = c.out.take(batch[:0], maxFrameMsgs)
		if len(batch) == 0 {
			if park == nil {
				park = time.NewTimer(writerPark)
			}
			if c.parked(park) || !c.idle() {
				continue
			}
			return
		}
		if c.busy(batch, c.lastWrite) {
			batch = c.linger(batch)
		}
		c.lastWrite = time.Now()
		if err := c.write(batch); err != nil {
			c.kick(closeNormal, "")
			_ = c.ws.CloseNow()
			c.cancel()
			return
		}
	}
}

// writerPark is how long a writer whose queue is empty waits for more
// before it ends: a socket receiving a stream keeps its writer (starting
// one per message, its stack grown anew each time, costs a busy room),
// and an idle one lets it go.
const writerPark = time.Second

// parked waits up to writerPark for something to write, on the run's
// timer (one per run, not one per wait); it reports whether something came
// (or the connection was kicked).
func (c *Conn) parked(timer *time.Timer) bool {
	timer.Reset(writerPark)
	defer timer.Stop()
	select {
	case <-c.out.ready:
		return true
	case <-c.kicked:
		return true
	case <-timer.C:
		return false
	}
}

// flushes reports whether the close frame follows what is queued: not when
// the peer is too slow for it, or does not answer, or is signed out (1008),
// but for a flooding one, whose queued errors say why.
func (c *Conn) flushes() bool {
	return c.closeCode != closePolicy || c.closeReason == reasonFlooding
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
// The frame is built in a buffer the writer keeps while it runs.
func (c *Conn) write(batch [][]byte) error {
	ctx := context.Background() // the connection's deadline bounds the write (frameWriter)
	if !c.deadlined {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(c.ctx, c.hub.cfg.WriteTimeout)
		defer cancel()
	}
	c.hub.metrics.frames.Inc()
	c.hub.metrics.framedMsgs.Add(float64(len(batch)))
	if len(batch) == 1 {
		return c.ws.Write(ctx, websocket.MessageText, batch[0])
	}
	size := 1 + len(batch)
	for _, m := range batch {
		size += len(m)
	}
	frame := c.frame[:0]
	if cap(frame) < size || cap(frame) > maxKeptFrame {
		frame = make([]byte, 0, size)
	}
	frame = append(frame, '[')
	for i, m := range batch {
		if i > 0 {
			frame = append(frame, ',')
		}
		frame = append(frame, m...)
	}
	frame = append(frame, ']')
	if cap(frame) <= maxKeptFrame {
		c.frame = frame
	}
	return c.ws.Write(ctx, websocket.MessageText, frame)
}

// maxKeptFrame is the largest frame buffer a writer keeps for its next
// frame: a busy room's frames fit, a rare huge op's does not stay.
const maxKeptFrame = 64 << 10

// ping checks that the peer answers, on the timer's goroutine, which lives
// only while the ping is out: a peer that does not answer within
// PingTimeout is dropped, one that does is pinged again a PingInterval
// later.
func (c *Conn) ping() {
	c.wmu.Lock()
	if c.ended {
		c.wmu.Unlock()
		return
	}
	c.bg.Add(1) // the socket's goroutine waits for the ping
	c.wmu.Unlock()
	defer c.bg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.hub.cfg.PingTimeout)
	defer cancel()
	sent := time.Now()
	if err := c.ws.Ping(ctx); err != nil {
		if c.ctx.Err() != nil {
			return
		}
		if !c.aliveSince(sent) {
			c.kick(closePolicy, "no pong")
			return
		}
	}
	c.wmu.Lock()
	if !c.ended {
		c.pinger.Reset(c.hub.cfg.PingInterval)
	}
	c.wmu.Unlock()
}
