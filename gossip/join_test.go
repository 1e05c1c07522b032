package gossip

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func TestWithDefaultPort(t *testing.T) {
	got := WithDefaultPort([]string{"10.0.0.1", "10.0.0.2:9301", "::1", "[::1]:8301", "host"}, 8301)
	want := []string{"10.0.0.1:8301", "10.0.0.2:9301", "[::1]:8301", "[::1]:8301", "host:8301"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestRetryJoin(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		max       int
		okAt      int // attempt that succeeds; 0 = never
		wantCalls int
	}{
		{"first attempt", 3, 1, 1},
		{"third attempt", 0, 3, 3},
		{"gives up after max", 2, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			join := func() (int, error) {
				calls++
				if calls == tc.okAt {
					return 1, nil
				}
				return 0, errors.New("no answer")
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				RetryJoin(context.Background(), "LAN", join, time.Millisecond, tc.max, logger)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("RetryJoin did not return")
			}
			if calls != tc.wantCalls {
				t.Fatalf("join called %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
	t.Run("stops with ctx", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			RetryJoin(ctx, "WAN", func() (int, error) { return 0, nil }, time.Hour, 0, nil)
		}()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("RetryJoin ignored ctx")
		}
	})
}
