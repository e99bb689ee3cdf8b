package main

import (
	"context"
	"crypto/rand"
	"sync"

	"tandem/collab"
)

// doorbellChannel is the Postgres channel on which the servers sharing a
// database tell each other of rare events (collab.Doorbell).
const doorbellChannel = "tandem_events"

// doorbell is the running listener of a server on Postgres.
type doorbell struct {
	stop      context.CancelFunc
	done      chan struct{} // closed once the listener has returned
	listening chan struct{} // closed once it first listens (for tests)
}

// startDoorbell, on Postgres, has the hub ring the other servers on the
// database and hear them, as node s.nodeID (made up here unless set
// before), until stopDoorbell. On the embedded store the server is alone
// and it does nothing.
func (s *server) startDoorbell() {
	pg := s.backend.pg
	if pg == nil {
		return
	}
	if s.nodeID == "" {
		s.nodeID = rand.Text()
	}
	s.hub.SetDoorbell(collab.NotifyDoorbell(pg, doorbellChannel), s.nodeID)
	ctx, cancel := context.WithCancel(context.Background())
	d := &doorbell{stop: cancel, done: make(chan struct{}), listening: make(chan struct{})}
	var first sync.Once
	go func() {
		defer close(d.done)
		// It returns only once ctx ends: the channel's name is valid.
		_ = pg.Listen(ctx, doorbellChannel, s.hub.Heard, func() {
			first.Do(func() { close(d.listening) })
			s.hub.HeardGap()
		}, s.log)
	}()
	s.doorbell = d
}

// stopDoorbell stops the listener and waits for it.
func (s *server) stopDoorbell() {
	if s.doorbell != nil {
		s.doorbell.stop()
		<-s.doorbell.done
	}
}
