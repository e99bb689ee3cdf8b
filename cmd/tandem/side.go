package main

import (
	"net"
	"net/http"
	"time"
)

// sideServer serves operator endpoints (metrics, profiles) on a listener of
// their own, so that they are never exposed on the public address by
// accident.
type sideServer struct {
	ln  net.Listener
	srv *http.Server
}

// startSideServer listens on addr and serves h until close.
func startSideServer(addr string, h http.Handler) (*sideServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &sideServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// addr is the address it listens on.
func (s *sideServer) addr() string { return s.ln.Addr().String() }

// close stops it; a nil sideServer is fine.
func (s *sideServer) close() {
	if s != nil {
		_ = s.srv.Close()
	}
}
