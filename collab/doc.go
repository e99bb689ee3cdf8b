// Package collab is Tandem's real-time engine and its document API.
//
// A Hub holds one room per open document, started on first use and closed
// when idle. A room's goroutine owns the document: its sequencer transforms
// an edit made against an older version over the operations that landed
// since, validates it against the current text, stamps the next version,
// and writes edits that arrive together in one transaction (group commit)
// before it acknowledges them to their authors and broadcasts them to every
// other subscriber. It also keeps a window of recent operations, for
// rejoins, and each subscriber's presence (cursors and selections),
// transformed through every operation and coalesced before it is sent.
//
// Conn is one WebSocket (GET /api/socket, subprotocol tandem.v1, described
// in docs/protocol.md): one reader, one writer, a bounded queue that composes
// a slow subscriber's pending operations and drops one that stops reading,
// and per-connection rate limits. DocsAPI serves the document REST routes
// (docs/openapi.json): documents and their content (documents.go), history
// and edits without a socket, through the same rooms (ops.go), members
// (members.go) and invitations (invitations.go).
//
// Config holds every limit of both, with DefaultConfig and Validate.
package collab
