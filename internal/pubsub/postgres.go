package pubsub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Channel is the PostgreSQL notification channel every [Postgres] broker
// listens on. Topics travel inside the payload, so one LISTEN serves all
// topics.
const Channel = "roster_events"

// ListenerApplicationName is the application_name of the listener's
// connection, unless the DSN sets application_name: it tells the
// listener apart in pg_stat_activity.
const ListenerApplicationName = "roster-pubsub-listener"

const (
	// Back-off between reconnection attempts of the listener: it doubles
	// from minReconnect after each failure, up to maxReconnect.
	minReconnect = 100 * time.Millisecond
	maxReconnect = 10 * time.Second
	// connect_timeout (seconds) of the listener's connection unless the
	// DSN sets one, so that a silent server cannot hold it forever.
	listenerConnectTimeout = "10"
	// Connections of the publishing pool.
	maxPublishConns = 4
)

// Postgres is a [Broker] on PostgreSQL LISTEN/NOTIFY: every broker on the
// same database receives what any of them publishes, its own messages
// included, in commit order.
//
// Each broker holds one listening connection (a [pq.Listener] on
// [Channel]) and a small pool of up to 4 connections for publishing. When
// the listening connection is lost, the listener reconnects with back-off
// (100 ms doubling up to 10 s) and, once listening again, every subscriber
// receives a Resync, since notifications sent meanwhile are lost. Connection
// events are logged: failures as warnings, reconnection as info.
//
// The database must use the UTF8 (or SQL_ASCII) encoding, as text payloads
// travel verbatim.
type Postgres struct {
	db       *sql.DB
	listener *pq.Listener
	fan      *fanout
	log      *slog.Logger
	done     chan struct{} // closed when dispatch returns

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	lastErr error // the last failed connection attempt of the listener
}

var _ Broker = (*Postgres)(nil)

// NewPostgres connects to the database at dsn (a postgres:// URL or a
// key=value connection string, as lib/pq takes) and starts listening. When
// it returns, the broker is listening: every message published afterwards,
// by any broker on the database, reaches its subscribers. If the database
// cannot be reached, it fails, or waits for ctx to end while the listener
// retries. log receives connection events; nil discards them. Neither log
// nor returned errors show the DSN's password.
func NewPostgres(ctx context.Context, dsn string, log *slog.Logger) (*Postgres, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ldsn, err := listenerDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("pubsub: %w", err)
	}
	db.SetMaxOpenConns(maxPublishConns)
	db.SetMaxIdleConns(maxPublishConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("pubsub: connect to PostgreSQL: %w", err)
	}

	p := &Postgres{
		db:   db,
		fan:  newFanout(SubscriberBuffer),
		log:  log,
		done: make(chan struct{}),
	}
	p.listener = pq.NewListener(ldsn, minReconnect, maxReconnect, p.event)
	go p.dispatch()

	// Listen returns once LISTEN has been acknowledged, which may take
	// several connection attempts.
	listened := make(chan error, 1)
	go func() { listened <- p.listener.Listen(Channel) }()
	select {
	case err = <-listened:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		if p.lastErr != nil {
			err = fmt.Errorf("%w (last connection attempt: %w)", err, p.lastErr)
		}
		p.mu.Unlock()
	}
	if err != nil {
		p.Close() // makes a pending Listen return
		return nil, fmt.Errorf("pubsub: listen on %s: %w", Channel, err)
	}
	return p, nil
}

// listenerDSN adds to dsn, unless it sets them, the listener's application
// name and a connection timeout.
func listenerDSN(dsn string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// url.Parse's error quotes the URL, password included.
			return "", errors.New("pubsub: the database URL is not a valid URL")
		}
		q := u.Query()
		if !q.Has("fallback_application_name") {
			q.Set("fallback_application_name", ListenerApplicationName)
		}
		if !q.Has("connect_timeout") {
			q.Set("connect_timeout", listenerConnectTimeout)
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if !strings.Contains(dsn, "fallback_application_name") {
		dsn += " fallback_application_name=" + ListenerApplicationName
	}
	if !strings.Contains(dsn, "connect_timeout") {
		dsn += " connect_timeout=" + listenerConnectTimeout
	}
	return dsn, nil
}

// event logs the listener's connection events. pq calls it from the
// goroutine that feeds Notify, so it must not block.
func (p *Postgres) event(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventConnected:
		p.log.Debug("pubsub: listener connected", "channel", Channel)
	case pq.ListenerEventReconnected:
		p.log.Info("pubsub: listener reconnected; subscribers resynchronise", "channel", Channel)
	case pq.ListenerEventDisconnected:
		p.log.Warn("pubsub: listener disconnected; reconnecting", "channel", Channel, "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		p.log.Warn("pubsub: listener connection attempt failed; retrying", "channel", Channel, "err", err)
	}
}

// dispatch drains the listener until it is closed, handing notifications
// to the local subscribers. Deliveries never block, so the listener never
// waits for a slow subscriber.
func (p *Postgres) dispatch() {
	defer close(p.done)
	for n := range p.listener.Notify {
		if n == nil {
			// The listener reconnected and listens again; notifications
			// sent while it was disconnected are lost.
			p.fan.resync()
			continue
		}
		if n.Channel != Channel {
			continue
		}
		topic, payload, err := decode(n.Extra)
		if err != nil {
			p.log.Warn("pubsub: dropping a malformed notification", "channel", Channel, "pid", n.BePid, "err", err)
			continue
		}
		p.fan.publish(Message{Topic: topic, Payload: payload})
	}
}

// Publish sends a notification with pg_notify outside any transaction, so it
// is delivered at once; call it after the transaction that made the change
// has committed. The message reaches this broker's subscribers too, through
// the database.
func (p *Postgres) Publish(ctx context.Context, topic string, payload []byte) error {
	if p.closed.Load() {
		return ErrClosed
	}
	text, err := check(topic, payload)
	if err != nil {
		return err
	}
	if _, err := p.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", Channel, encode(topic, payload, text)); err != nil {
		if p.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("pubsub: publish on %q: %w", topic, err)
	}
	return nil
}

// Subscribe implements [Broker.Subscribe]. It is local to the process: it
// needs no database round trip.
func (p *Postgres) Subscribe(topics ...string) (<-chan Message, func()) {
	return p.fan.subscribe(topics)
}

// Close closes the subscribers' channels at once, then the listener and
// the publishing pool, and returns when the listener's goroutines have
// ended. While the database is unreachable, that may take until the end of
// the listener's current back-off (up to 10 s) or connection attempt.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.fan.close()
		lerr := p.listener.Close()
		<-p.done // Notify is closed when the listener's goroutines end
		p.closeErr = errors.Join(lerr, p.db.Close())
	})
	return p.closeErr
}
