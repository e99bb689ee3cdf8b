package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// MaxNotifyPayload is the longest payload Notify sends, in bytes: Postgres
// refuses one of 8000 bytes or more (its default build).
const MaxNotifyPayload = 7999

// ListenerName is the application_name of Listen's connection, which is how
// it shows in pg_stat_activity.
const ListenerName = "tandem-listen"

// Notify sends payload to whoever listens on channel, in every process on
// this database (this one's listeners too), once the statement commits: at
// once, as it runs in a transaction of its own. Delivery is at most once: a
// listener that is not connected then never gets it. It returns an error
// wrapping store.ErrInvalid for a payload over MaxNotifyPayload or a
// channel that is not a valid name (1 to 63 bytes, no NUL).
func (db *DB) Notify(ctx context.Context, channel, payload string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("%w: a notification of %d bytes (at most %d)", store.ErrInvalid, len(payload), MaxNotifyPayload)
	}
	if strings.ContainsRune(payload, 0) {
		return fmt.Errorf("%w: a notification with NUL in it", store.ErrInvalid)
	}
	if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, translate(err))
	}
	return nil
}

// checkChannel refuses what Postgres would not take as a channel name
// (63 bytes is its identifier limit, NAMEDATALEN-1).
func checkChannel(channel string) error {
	if channel == "" || len(channel) > 63 || strings.ContainsRune(channel, 0) {
		return fmt.Errorf("%w: channel name %q must be 1 to 63 bytes without NUL", store.ErrInvalid, channel)
	}
	return nil
}

// Pauses between attempts to listen again after a lost connection: from
// the first, doubling up to the last; and how long a quiet connection
// waits before it checks that it is still alive (a silently dropped one
// would otherwise wait for ever).
const (
	listenFirstPause = 100 * time.Millisecond
	listenMaxPause   = 5 * time.Second
	listenPingWithin = 5 * time.Second
	// A server that does not answer at all (a network that drops packets)
	// would hold a connection attempt for minutes.
	listenConnectWithin = 10 * time.Second
)

var listenIdleCheck = 30 * time.Second // a variable for tests

// Listen listens on channel until ctx ends, then returns nil; it returns an
// error at once only if channel is not a valid name.
//
// It holds one connection of its own, outside the pool (named ListenerName
// in pg_stat_activity), and calls onEvent with each notification's payload,
// in the order of the commits that sent them, one at a time on Listen's
// goroutine: onEvent should not block for long, as the next notifications
// wait for it.
//
// When the connection is lost (or a quiet one stops answering), it connects
// again, with pauses from 100 ms doubling to 5 s, and LISTENs again.
// Notifications sent while it was not listening are lost for good, so it
// calls onGap once it is listening again; onGap is also called when it
// first begins listening, which closes the window between starting Listen
// and listening, and tells the caller that it listens. onGap runs on
// Listen's goroutine before any notification sent after it was listening.
// Lost connections are logged on log at warn (nil: not logged).
func (db *DB) Listen(ctx context.Context, channel string, onEvent func(payload string), onGap func(), log *slog.Logger) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pause := listenFirstPause
	for attempt := 1; ; attempt++ {
		listened, err := db.listenOnce(ctx, channel, onEvent, onGap)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			pause = listenFirstPause
			attempt = 1
		}
		log.Warn("listen connection lost; reconnecting", "channel", channel, "attempt", attempt, "retry_in", pause, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, listenMaxPause)
	}
}

// listenOnce connects, LISTENs, calls onGap and passes notifications on
// until the connection fails or ctx ends. listened says whether it got as
// far as listening.
func (db *DB) listenOnce(ctx context.Context, channel string, onEvent func(string), onGap func()) (listened bool, err error) {
	cfg := db.pool.Config().ConnConfig
	cfg.RuntimeParams["application_name"] = ListenerName
	connectCtx, cancel := context.WithTimeout(ctx, listenConnectWithin)
	defer cancel()
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection is done with, whatever it says
	}()
	if _, err := conn.Exec(connectCtx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	onGap()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			onEvent(n.Payload)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Quiet for a while: is anyone still there?
			pingCtx, cancel := context.WithTimeout(ctx, listenPingWithin)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait: %w", err)
		}
	}
}
