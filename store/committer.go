package store

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned for work handed to a store that is closing.
var ErrClosed = errors.New("store closed")

// Committer group-commits for a store: callers hand it requests, and one
// goroutine takes every request waiting (up to max) and passes them to
// commit as one group, which answers each. Both stores write appends from
// all documents this way, so that many documents share each durable commit.
type Committer[T any] struct {
	in      chan T
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	max     int
	commit  func(group []T)
}

// NewCommitter starts a committer that passes groups of at most max
// requests to commit.
func NewCommitter[T any](max int, commit func(group []T)) *Committer[T] {
	c := &Committer[T]{in: make(chan T, max), closing: make(chan struct{}), done: make(chan struct{}), max: max, commit: commit}
	go c.loop()
	return c
}

// Do hands req to the committer and waits for its answer on done, which
// commit must send exactly once. Once handed over, a request is seen
// through: its outcome is only known when the commit is. It returns
// ErrClosed if the committer is closing, and ctx's error if ctx ends before
// the request is handed over.
func (c *Committer[T]) Do(ctx context.Context, req T, done <-chan error) error {
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	select {
	case c.in <- req:
	case <-c.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-c.done:
		// Handed over as the committer closed, perhaps after its last look.
		select {
		case err := <-done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Close stops the committer once it has committed everything handed to it.
func (c *Committer[T]) Close() {
	c.once.Do(func() { close(c.closing) })
	<-c.done
}

func (c *Committer[T]) loop() {
	defer close(c.done)
	group := make([]T, 0, c.max)
	for {
		select {
		case req := <-c.in:
			group = append(group[:0], req)
		case <-c.closing:
			for {
				if group = c.take(group[:0]); len(group) == 0 {
					return
				}
				c.commit(group)
			}
		}
		c.commit(c.take(group))
	}
}

// take adds to group the requests waiting, up to max.
func (c *Committer[T]) take(group []T) []T {
	for len(group) < c.max {
		select {
		case req := <-c.in:
			group = append(group, req)
		default:
			return group
		}
	}
	return group
}
