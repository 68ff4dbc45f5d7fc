package main

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"roster/internal/metrics"
)

// operationMetrics records every GraphQL operation in the metrics exactly
// once, whatever its transport: HTTP, the websocket and Server-Sent Events
// all run their operations through the executor, and an operation leaves
// it in one of two ways only:
//
//   - refused before it runs (it does not parse or validate, its variables
//     do not coerce, a limit or the websocket refuses it): the executor's
//     DispatchError, which runs the response interceptors once, outside
//     any operation interceptor;
//   - dispatched: the operation interceptors run once, and the answer (a
//     query's or mutation's) or the setting up of the stream (a
//     subscription's) is recorded there.
//
// A subscription's lifetime is never recorded as a duration: its outcome
// is whether its stream was set up (the root field's resolver returned a
// stream without error), and its duration how long that took. A websocket
// subscription that joins the run of equal ones already going never
// reaches the executor, nor does one refused by closing its socket; the
// transport's observer records those (sessions.Shared and Refused).
// An HTTP request refused before it reaches the executor is recorded by
// logRequests, which records none that the executor did.
type operationMetrics struct{ m *metrics.Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
	graphql.FieldInterceptor
} = operationMetrics{}

func (operationMetrics) ExtensionName() string { return "OperationMetrics" }

func (operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }

// dispatched is what is learnt of an operation being dispatched.
type dispatched struct {
	once sync.Once
	// subscribed: a subscription's root field returned its stream.
	subscribed atomic.Bool
}

type dispatchedKey struct{}

// InterceptOperation records a dispatched operation: a subscription as
// soon as its stream is set up or refused, a query or mutation with its
// answer.
func (x operationMetrics) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	d := &dispatched{}
	ctx = context.WithValue(ctx, dispatchedKey{}, d)
	responses := next(ctx)
	kind := operationType(ctx)
	if kind == string(ast.Subscription) {
		outcome := metrics.Error
		if d.subscribed.Load() {
			outcome = metrics.OK
		}
		x.record(ctx, kind, outcome)
		return responses
	}
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		d.once.Do(func() {
			outcome := metrics.OK
			if resp == nil || len(resp.Errors) > 0 {
				outcome = metrics.Error
			}
			x.record(ctx, kind, outcome)
		})
		return resp
	}
}

// InterceptResponse records an operation refused before it ran: the
// executor answers it (DispatchError) without dispatching it, so no
// operation interceptor saw it.
func (x operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if _, ok := ctx.Value(dispatchedKey{}).(*dispatched); !ok {
		x.record(ctx, operationType(ctx), metrics.Error)
	}
	return resp
}

// InterceptField notes that a subscription's root field returned its
// stream.
func (operationMetrics) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil || res == nil || reflect.TypeOf(res).Kind() != reflect.Chan {
		// Only a subscription's root field returns a channel; looking up
		// the field's context for each of the other fields of a page
		// would cost a walk up its context each.
		return res, err
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Object == "Subscription" {
		if d, ok := ctx.Value(dispatchedKey{}).(*dispatched); ok {
			d.subscribed.Store(true)
		}
	}
	return res, err
}

// record observes one operation, timed from when its transport read it
// (the HTTP request's start when the executor did not learn it).
func (x operationMetrics) record(ctx context.Context, kind, outcome string) {
	transport, start := metrics.HTTP, time.Time{}
	if _, ok := ctx.Value(socketKey{}).(*socketInfo); ok {
		// An operation of a websocket (see socketContext).
		transport = metrics.Websocket
	} else if req, ok := ctx.Value(requestKey{}).(*request); ok {
		req.mu.Lock()
		transport, start = req.transport, req.start
		if transport != metrics.Websocket {
			req.recorded = true
		}
		req.mu.Unlock()
	}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		switch {
		case !oc.Stats.OperationStart.IsZero():
			start = oc.Stats.OperationStart
		case !oc.Stats.Read.Start.IsZero():
			start = oc.Stats.Read.Start
		}
	}
	var d time.Duration
	if !start.IsZero() {
		d = time.Since(start)
	}
	x.m.Operation(transport, kind, outcome, d)
}

// operationType is the type of the operation in ctx ("" when there is
// none: the request never got as far as selecting one).
func operationType(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return ""
	}
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil {
		return string(oc.Operation.Operation)
	}
	return ""
}
