package auth

import (
	"context"
	"errors"
	"strings"

	"roster/internal/apierr"
	"roster/internal/viewer"
	"roster/internal/wstransport"
)

// A websocket authenticates once, in connection_init, and keeps only its
// session: each operation it sends (query, mutation or subscription) runs
// with the viewer as the session stands at that moment, read by the
// function that authenticates HTTP requests. A role, permission, chat
// access or broadcast flag changed since the socket opened applies to its
// next operation.

type socketKey struct{}

// socketCredential is what a socket authenticated with: a session, or an
// API key.
type socketCredential struct{ session, apiKey int }

// SocketInit authenticates a websocket by the token in its connection_init
// payload ({"authorization": "Bearer <token>"}, the key in any case). It
// returns the context the socket's operations start from, which holds the
// session and no viewer, and the viewer as it is now. A missing or refused
// token is a *wstransport.CloseError with code 4403.
func (s *Service) SocketInit(ctx context.Context, payload map[string]any) (context.Context, *viewer.Viewer, error) {
	var header string
	for k, v := range payload {
		if strings.EqualFold(k, "authorization") {
			header, _ = v.(string)
		}
	}
	token, ok := ParseAuthorization(header)
	if !ok {
		return ctx, nil, &wstransport.CloseError{Code: 4403, Reason: `Forbidden: send {"authorization": "Bearer <token>"} in connection_init`}
	}
	v, err := s.Authenticate(ctx, token)
	var apiErr *apierr.Error
	switch {
	case errors.As(err, &apiErr):
		return ctx, nil, &wstransport.CloseError{Code: 4403, Reason: "Forbidden: invalid, revoked or expired token"}
	case err != nil:
		s.log.ErrorContext(ctx, "authenticate websocket", "err", err)
		return ctx, nil, &wstransport.CloseError{Code: 4500, Reason: "Internal server error"}
	}
	// The upgrade request may have carried a token of its own: the socket
	// acts only for the session of connection_init.
	if viewer.FromContext(ctx) != nil {
		ctx = viewer.NewContext(ctx, nil)
	}
	return context.WithValue(ctx, socketKey{}, socketCredential{session: v.SessionID, apiKey: v.APIKeyID}), v, nil
}

// SocketOperation returns ctx with the viewer of the socket's session as
// it is now, for one operation. A session that ended (logged out, revoked,
// expired, its user archived) closes the socket with 4403.
func (s *Service) SocketOperation(ctx context.Context) (context.Context, error) {
	cred, ok := ctx.Value(socketKey{}).(socketCredential)
	if !ok {
		return ctx, &wstransport.CloseError{Code: 4403, Reason: "Forbidden"}
	}
	id := cred.session
	var v *viewer.Viewer
	var err error
	if cred.apiKey != 0 {
		id = cred.apiKey
		v, err = s.APIKeyViewer(ctx, cred.apiKey)
	} else {
		v, err = s.SessionViewer(ctx, cred.session)
	}
	var apiErr *apierr.Error
	switch {
	case errors.As(err, &apiErr):
		return ctx, &wstransport.CloseError{Code: 4403, Reason: "Forbidden: session ended"}
	case err != nil:
		s.log.ErrorContext(ctx, "authenticate websocket operation", "session", id, "err", err)
		return ctx, apierr.New(apierr.Internal, "internal error")
	}
	return viewer.NewContext(ctx, v), nil
}
