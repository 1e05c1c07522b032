package notify

import (
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestBroadcast(t *testing.T) {
	b := New()
	w1, w2 := b.Wait(), b.Wait()
	if closed(w1) || closed(w2) {
		t.Fatal("woken before any change")
	}
	b.Notify()
	if !closed(w1) || !closed(w2) {
		t.Fatal("waiters not woken")
	}
	w3 := b.Wait()
	if closed(w3) {
		t.Fatal("a waiter after the change woken by it")
	}
	done := make(chan struct{})
	go func() {
		<-w3
		close(done)
	}()
	b.Notify()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("blocked waiter not woken")
	}
}
