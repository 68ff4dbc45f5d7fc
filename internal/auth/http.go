package auth

import (
	"context"
	"errors"
	"net"
	"net/http"

	"roster/internal/apierr"
	"roster/internal/audit"
	"roster/internal/viewer"
)

type failureKey struct{}

// Failure returns why the credentials a request carried were refused, or
// nil when it carried none or they were accepted.
func Failure(ctx context.Context) error {
	err, _ := ctx.Value(failureKey{}).(error)
	return err
}

// Middleware authenticates the bearer token of each request. A request with
// a valid token carries its viewer in the context; one with a refused token
// goes on anonymous, with Failure telling why, so that operations open to
// anonymous clients (like login) still work.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := WithDevice(r.Context(), DeviceOf(r))
		token, ok := ParseAuthorization(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		v, err := s.Authenticate(ctx, token)
		var apiErr *apierr.Error
		switch {
		case errors.As(err, &apiErr):
			ctx = context.WithValue(ctx, failureKey{}, err)
		case err != nil:
			s.log.ErrorContext(ctx, "authenticate", "err", err)
			apierr.WriteHTTP(w, http.StatusServiceUnavailable, apierr.New(apierr.Internal, "internal error"))
			return
		default:
			ctx = viewer.NewContext(ctx, v)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// DeviceOf describes the client of r.
func DeviceOf(r *http.Request) Device {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return Device{UserAgent: r.UserAgent(), IP: ip}
}

type deviceKey struct{}

// WithDevice returns a context that remembers the client device, for a
// login made later in the request.
func WithDevice(ctx context.Context, d Device) context.Context {
	return context.WithValue(ctx, deviceKey{}, d)
}

// DeviceFrom returns the device stored by WithDevice, else the client
// that audit.WithClient recorded (its address and User-Agent, which the
// server takes from the request as DeviceOf does).
func DeviceFrom(ctx context.Context) Device {
	if d, ok := ctx.Value(deviceKey{}).(Device); ok {
		return d
	}
	c := audit.ClientFrom(ctx)
	return Device{UserAgent: c.UserAgent, IP: c.Address}
}
