package collab

import "sync"

// maxFrameMsgs is how many queued messages a writer sends as one frame.
const maxFrameMsgs = 64

// outbox is a connection's queue of encoded messages for its writer. It is
// bounded (a connection that falls further behind is dropped), and it holds
// no memory while empty, which is most of an idle socket's life: a channel
// of the same bound would keep its whole buffer for every socket.
type outbox struct {
	mu    sync.Mutex
	msgs  [][]byte
	limit int
	ready chan struct{} // holds a token while msgs may be non-empty
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, ready: make(chan struct{}, 1)}
}

// push queues msg, and reports false when the outbox is full.
func (o *outbox) push(msg []byte) bool {
	o.mu.Lock()
	if len(o.msgs) >= o.limit {
		o.mu.Unlock()
		return false
	}
	o.msgs = append(o.msgs, msg)
	o.mu.Unlock()
	o.signal()
	return true
}

// take moves queued messages, oldest first, onto batch until it holds max.
func (o *outbox) take(batch [][]byte, max int) [][]byte {
	o.mu.Lock()
	n := min(len(o.msgs), max-len(batch))
	batch = append(batch, o.msgs[:n]...)
	rest := copy(o.msgs, o.msgs[n:])
	clear(o.msgs[rest:])
	o.msgs = o.msgs[:rest]
	if rest == 0 && cap(o.msgs) > 8 {
		o.msgs = nil // a burst is over: let its memory go
	}
	o.mu.Unlock()
	if rest > 0 {
		o.signal()
	}
	return batch
}

// len is how many messages wait.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

func (o *outbox) signal() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}
