package auth_test

import (
	"context"
	"testing"

	"roster/internal/audit"
	"roster/internal/auth"
)

// TestDeviceFrom checks that the device of a context is the one set with
// WithDevice, else the client its audit entries record (what a websocket's
// operations keep of their upgrade request), else none.
func TestDeviceFrom(t *testing.T) {
	t.Parallel()
	client := audit.WithClient(context.Background(), audit.Client{Address: "192.0.2.7", UserAgent: "Dashboard/2", RequestID: "r1"})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want auth.Device
	}{
		{"set", auth.WithDevice(client, auth.Device{UserAgent: "Phone/1", IP: "198.51.100.9"}), auth.Device{UserAgent: "Phone/1", IP: "198.51.100.9"}},
		{"the audit client's", client, auth.Device{UserAgent: "Dashboard/2", IP: "192.0.2.7"}},
		{"none", context.Background(), auth.Device{}},
	} {
		if got := auth.DeviceFrom(tc.ctx); got != tc.want {
			t.Errorf("%s: DeviceFrom = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
