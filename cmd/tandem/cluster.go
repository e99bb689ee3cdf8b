package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"tandem/collab"
	"tandem/store"
)

// validateCluster checks the cluster flags (docs/cluster.md).
func (c *serveConfig) validateCluster() error {
	if c.db.url == "" {
		if c.advertiseURL != "" || c.clusterSecret != "" {
			return errors.New("the embedded store is one node: --advertise-url and --cluster-secret need --database-url (Postgres)")
		}
		return nil
	}
	if c.leaseTTL < 300*time.Millisecond || c.leaseTTL > 10*time.Minute {
		return errors.New("--lease-ttl must be between 300ms and 10m")
	}
	if c.clusterSecret != "" && len(c.clusterSecret) < 16 {
		return errors.New("--cluster-secret must be at least 16 characters")
	}
	if c.advertiseURL != "" {
		u, err := url.Parse(c.advertiseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("--advertise-url %q: want http(s)://host:port", c.advertiseURL)
		}
	}
	return nil
}

// joinCluster makes the server a node of the cluster on its Postgres
// database. A single node runs the same way: it owns every document.
// Without --cluster-secret it makes one up, which only works while no
// other node is registered: it refuses to start beside one.
func (s *server) joinCluster(ctx context.Context) error {
	leases, ok := s.backend.store.(store.Cluster)
	if !ok {
		return nil // the embedded store: one node
	}
	c := collab.Cluster{Store: leases, NodeID: s.nodeID, URL: s.advertiseURL(), Secret: s.cfg.clusterSecret, LeaseTTL: s.cfg.leaseTTL}
	if c.Secret == "" {
		nodes, err := leases.Nodes(ctx, 3*c.LeaseTTL)
		if err != nil {
			return fmt.Errorf("list the cluster's nodes: %w", err)
		}
		var others []store.Node
		for _, n := range nodes {
			if n.URL != c.URL { // this node's own earlier life (a restart after a crash)
				others = append(others, n)
			}
		}
		if len(others) > 0 {
			return fmt.Errorf("%d other node(s) use this database (%s): set the same --cluster-secret (or TANDEM_CLUSTER_SECRET) on every node",
				len(others), others[0].URL)
		}
		c.Secret = newNodeID() + newNodeID()
	}
	return s.hub.JoinCluster(ctx, c)
}

// advertiseURL is --advertise-url, or this server's own scheme and
// listening address (a wildcard host becomes loopback: set the flag when
// nodes are on several machines).
func (s *server) advertiseURL() string {
	if s.cfg.advertiseURL != "" {
		return strings.TrimSuffix(s.cfg.advertiseURL, "/")
	}
	host, port, _ := net.SplitHostPort(s.listener.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// newNodeID names this process in the cluster: a new one each start, so a
// restarted node never takes for its own a lease its earlier life held.
func newNodeID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
