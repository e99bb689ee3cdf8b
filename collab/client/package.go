// Package client is a Go client for Tandem's real-time protocol
// (docs/protocol.md): bots, importers and tests use it to edit documents as
// the browser client does.
//
// Dial opens one WebSocket, authenticated by an API token or a host app's
// JWT (Options.Token, sent as "Authorization: Bearer"), or by a session
// cookie (Options.HTTPClient with a cookie jar). Conn.Open joins a document
// and returns a Doc, whose local edits (Apply, Insert, Delete, in Unicode
// code points) apply at once and reach the server through the protocol's
// client state machine (§9): one op in flight, later edits composed into a
// buffer, remote ops transformed over both. When the socket drops, the
// Conn reconnects with backoff, rejoins each document at the version it
// has and re-sends the op in flight with its original id, which the server
// applies at most once (§10). WaitSynced and WaitVersion wait for acks and
// for remote versions; Changes signals every change.
//
// State is the state machine alone, without I/O, for programs that keep a
// transport of their own (the load generator does).
//
// Conn and Doc are safe for concurrent use.
package client
