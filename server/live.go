package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/internal/access"
	"roster/internal/allocation"
	"roster/internal/audit"
	"roster/internal/auth"
	"roster/internal/metrics"
	"roster/internal/presence"
	"roster/internal/pubsub"
	"roster/internal/realtime"
	"roster/internal/store"
	"roster/internal/viewer"
	"roster/internal/wstransport"
)

// live is what realtime updates need: the broker between instances, the
// hub of this instance's subscriptions, the presence service and the
// websocket transport.
type live struct {
	broker   pubsub.Broker
	hub      *realtime.Hub
	presence *presence.Service
	alloc    *allocation.Service
	ws       *wstransport.Transport
	cancel   context.CancelFunc
	log      *slog.Logger
	// closing ends every Server-Sent Events stream when the server stops.
	closing      context.Context
	closeStreams context.CancelFunc
}

// newBroker returns the broker events travel through: with PostgreSQL,
// between instances through LISTEN/NOTIFY; with SQLite, within this
// process.
func newBroker(ctx context.Context, cfg *config, db *store.DB, log *slog.Logger) (pubsub.Broker, error) {
	if db.Dialect == "sqlite3" {
		return pubsub.NewMemory(), nil
	}
	pg, err := pubsub.NewPostgres(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, fmt.Errorf("listen for events: %w", err)
	}
	return pg, nil
}

// startLive starts realtime updates through broker, which it closes when
// it stops (or fails to start).
func startLive(ctx context.Context, cfg *config, db *store.DB, broker pubsub.Broker, authn *auth.Service, m *metrics.Metrics, log *slog.Logger) (*live, error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &live{
		broker:   broker,
		hub:      realtime.NewHub(db.Client, authn.SessionViewers, log),
		presence: presence.New(db.Client, presence.Options{Grace: cfg.PresenceGrace, DeadAfter: cfg.InstanceTimeout}, log),
		alloc:    allocation.New(db.Client, log),
		cancel:   cancel,
		log:      log,
	}
	// Assignments reach the subscribers of every instance.
	l.alloc.Assigned = func(ev allocation.Event) {
		realtime.PublishAssignment(runCtx, broker, log, ev.OrganizationID, ev.AssigneeID, ev.DivisionID, ev.Conversation)
	}
	l.closing, l.closeStreams = context.WithCancel(context.Background())
	l.hub.Measure(m)
	m.WatchPresence(l.presence.Online)
	l.hub.Start(runCtx, broker)
	// Queued conversations move when agents come online or become
	// available (any instance's change), and the idle and offline rules
	// run on time.
	l.alloc.Follow(runCtx, broker)
	go l.alloc.Run(runCtx, cfg.AllocationSweep)
	if err := l.presence.Start(runCtx); err != nil {
		cancel()
		broker.Close()
		return nil, err
	}
	l.ws = &wstransport.Transport{
		InitFunc:         l.initSocket(authn),
		OperationFunc:    l.startOperation(authn),
		CloseFunc:        l.closeSocket,
		CheckOrigin:      checkOrigin(cfg.AllowedOrigins),
		GroupKey:         groupKey,
		InitTimeout:      cfg.WSInitTimeout,
		PingInterval:     cfg.WSPingInterval,
		MaxMessageSize:   cfg.WSMaxMessageBytes,
		MaxSubscriptions: cfg.WSMaxSubscriptions,
		Observer:         &sessions{metrics: m, log: log},
		ErrorLog:         log,
	}
	log.Info("realtime ready", "instance", l.presence.InstanceID(), "broker", fmt.Sprintf("%T", broker))
	return l, nil
}

// stop closes every websocket, ends this instance's presence and stops the
// broker.
func (l *live) stop(ctx context.Context) {
	// Sockets close without a database write each: the instance's
	// connections all end together below.
	l.presence.Stopping()
	if err := l.ws.Shutdown(ctx); err != nil {
		l.log.WarnContext(ctx, "close websockets", "err", err)
	}
	l.cancel() // the heartbeat and the hub
	if err := l.presence.Stop(ctx); err != nil {
		l.log.WarnContext(ctx, "end presence", "err", err)
	}
	if err := l.broker.Close(); err != nil {
		l.log.WarnContext(ctx, "close broker", "err", err)
	}
}

// streams ends a Server-Sent Events stream as a websocket would be closed
// with 4403: when its session is revoked or expires, or the viewer's
// authority shrinks; and when the server stops.
func (l *live) streams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !eventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(l.closing, cancel)
		defer stop()
		if v := viewer.FromContext(ctx); v != nil && v.SessionID != 0 {
			watch := l.hub.Watch(v, func(string) { cancel() })
			defer watch.Unwatch()
			if !v.ExpiresAt.IsZero() {
				expiry := time.AfterFunc(time.Until(v.ExpiresAt), cancel)
				defer expiry.Stop()
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type socketKey struct{}

// socketInfo is what an accepted websocket's operations and close need:
// who it is (a user's session, or an API key's machine) and, for a
// user's, what closing it undoes.
type socketInfo struct {
	connID, userID, orgID, apiKeyID int
	conn                            wstransport.Handle
	watch                           *realtime.Socket
}

// socketContext returns what an accepted websocket keeps of its upgrade
// request's context, for the operations it runs: who the client is, for
// the audit entries of its changes and as the device of a login's session
// (auth.DeviceFrom reads it there). The socket keeps this context as long
// as it is open; the upgrade request's (net/http's layers, the
// middlewares', the request's log record) would be kept with it.
func socketContext(up context.Context) context.Context {
	return audit.WithClient(context.Background(), audit.ClientFrom(up))
}

// initSocket authenticates a websocket (see auth.Service.SocketInit),
// records the user's presence, and arranges for the socket to close with
// 4403 when the session is revoked or expires, or the viewer's authority
// shrinks (see realtime.Hub.Watch).
func (l *live) initSocket(authn *auth.Service) func(context.Context, map[string]any) (context.Context, map[string]any, error) {
	return func(up context.Context, payload map[string]any) (context.Context, map[string]any, error) {
		ctx, v, err := authn.SocketInit(socketContext(up), payload)
		if err != nil {
			// The reason is the close reason sent to the client: it never
			// holds the token.
			reason := err.Error()
			var ce *wstransport.CloseError
			if errors.As(err, &ce) {
				reason = ce.Reason
			}
			l.log.InfoContext(ctx, "websocket refused", "reason", reason, "remote", auth.DeviceFrom(ctx).IP)
			return ctx, nil, err
		}
		info := &socketInfo{orgID: v.OrganizationID, conn: wstransport.HandleFrom(up)}
		if v.APIKeyID != 0 {
			// A machine is not present: its socket records no
			// presence and is not watched as a person's session.
			info.apiKeyID = v.APIKeyID
			return context.WithValue(ctx, socketKey{}, info), nil, nil
		}
		connID, err := l.presence.Connect(ctx, v, auth.DeviceFrom(ctx).UserAgent)
		if err != nil {
			l.log.ErrorContext(ctx, "record connection", "err", err)
			return ctx, nil, errors.New("internal error")
		}
		info.connID, info.userID = connID, v.UserID
		info.watch = l.hub.Watch(v, func(reason string) { info.conn.Close(4403, "Forbidden: "+reason) })
		return context.WithValue(ctx, socketKey{}, info), nil, nil
	}
}

// startOperation gives an operation on a websocket the viewer as it is
// now, and lets the hub close the socket once that authority shrinks.
func (l *live) startOperation(authn *auth.Service) func(context.Context) (context.Context, error) {
	return func(ctx context.Context) (context.Context, error) {
		ctx, err := authn.SocketOperation(ctx)
		if err != nil {
			return ctx, err
		}
		if info, ok := ctx.Value(socketKey{}).(*socketInfo); ok && info.watch != nil {
			info.watch.Grant(viewer.FromContext(ctx))
		}
		return ctx, nil
	}
}

// closeSocket undoes what initSocket did.
func (l *live) closeSocket(ctx context.Context, _ int) {
	info, ok := ctx.Value(socketKey{}).(*socketInfo)
	if !ok || info.watch == nil {
		return
	}
	info.watch.Unwatch()
	if err := l.presence.Disconnect(ctx, info.connID, info.userID); err != nil {
		l.log.WarnContext(ctx, "record disconnection", "err", err)
	}
}

// sessions logs every websocket session when it ends and counts websockets
// and subscriptions.
type sessions struct {
	metrics *metrics.Metrics
	log     *slog.Logger
}

func (s *sessions) Opened() { s.metrics.SocketOpened() }

func (s *sessions) SubscriptionsChanged(delta int) { s.metrics.SubscriptionsChanged(delta) }

// Shared records a subscription that joined the run of equal ones: set up.
func (s *sessions) Shared(ctx context.Context) {
	operationMetrics{s.metrics}.record(ctx, string(ast.Subscription), metrics.OK)
}

// Refused records an operation refused by closing its socket (its viewer
// can no longer be loaded: the session ended).
func (s *sessions) Refused(ctx context.Context) {
	operationMetrics{s.metrics}.record(ctx, operationType(ctx), metrics.Error)
}

func (s *sessions) Ended(ctx context.Context, session wstransport.Session) {
	s.metrics.SocketClosed()
	attrs := []slog.Attr{
		slog.Float64("duration_s", session.Duration.Round(time.Millisecond).Seconds()),
		slog.Int("operations", session.Operations),
		slog.Int("close_code", session.Code),
		slog.String("close_reason", session.Reason),
		slog.String("protocol", session.Protocol),
	}
	if info, ok := ctx.Value(socketKey{}).(*socketInfo); ok {
		who := slog.Int("user", info.userID)
		if info.apiKeyID != 0 {
			who = slog.Int("api_key", info.apiKeyID)
		}
		attrs = append([]slog.Attr{who, slog.Int("organization", info.orgID)}, attrs...)
	} else {
		attrs = append([]slog.Attr{slog.Bool("authenticated", false)}, attrs...)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "websocket session", attrs...)
}

// checkOrigin accepts websockets from pages of the same origin, or of one
// of allowed ("*" allows any).
func checkOrigin(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true // not a browser
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		if strings.EqualFold(u.Host, r.Host) {
			return true
		}
		return slices.ContainsFunc(allowed, func(a string) bool {
			return a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin)
		})
	}
}

// groupKey lets subscriptions of viewers who see the same share one run,
// except those asking for a snapshot (each gets the state as of its own
// start), those of conversationAssigned (what each hears of depends on
// who they are: the conversations assigned to them) and those of
// presenceSummaryChanged (each gets the current summary first; the hub
// shares their computation).
func groupKey(ctx context.Context) string {
	if oc := graphql.GetOperationContext(ctx); oc != nil && oc.Operation != nil &&
		(asksSnapshot(oc.Operation.SelectionSet, oc.Variables) || selects(oc.Operation.SelectionSet, "conversationAssigned") ||
			selects(oc.Operation.SelectionSet, "presenceSummaryChanged")) {
		return ""
	}
	return access.GroupKey(ctx)
}

// selects reports whether set selects the root field name.
func selects(set ast.SelectionSet, name string) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == name {
				return true
			}
		case *ast.InlineFragment:
			if selects(sel.SelectionSet, name) {
				return true
			}
		case *ast.FragmentSpread:
			if sel.Definition != nil && selects(sel.Definition.SelectionSet, name) {
				return true
			}
		}
	}
	return false
}

// asksSnapshot reports whether a root field of set has snapshot: true.
func asksSnapshot(set ast.SelectionSet, vars map[string]any) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if arg := sel.Arguments.ForName("snapshot"); arg != nil {
				if v, err := arg.Value.Value(vars); err == nil && v == true {
					return true
				}
			}
		case *ast.InlineFragment:
			if asksSnapshot(sel.SelectionSet, vars) {
				return true
			}
		case *ast.FragmentSpread:
			if sel.Definition != nil && asksSnapshot(sel.Definition.SelectionSet, vars) {
				return true
			}
		}
	}
	return false
}
