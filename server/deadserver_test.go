package server

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A failed server is removed only once it has stayed failed for the grace
// period; one that recovers in between starts the grace again.
func TestFailedServerGrace(t *testing.T) {
	s := &Server{cfg: &Config{DeadServerGrace: 30 * time.Second}}
	t0 := time.Unix(1000, 0)

	due, next := s.failedLongEnough([]raft.ServerID{"a"}, t0)
	if len(due) != 0 || next != 30*time.Second {
		t.Fatalf("first sight: due %v next %v, want none and 30s", due, next)
	}
	due, next = s.failedLongEnough([]raft.ServerID{"a", "b"}, t0.Add(20*time.Second))
	if len(due) != 0 || next != 10*time.Second {
		t.Fatalf("at 20s: due %v next %v, want none and 10s", due, next)
	}
	due, next = s.failedLongEnough([]raft.ServerID{"a", "b"}, t0.Add(30*time.Second))
	if !slices.Equal(due, []raft.ServerID{"a"}) || next != 20*time.Second {
		t.Fatalf("at 30s: due %v next %v, want [a] and 20s", due, next)
	}
	// b recovers (a partition healed), then fails again: a new grace.
	s.failedLongEnough([]raft.ServerID{"a"}, t0.Add(35*time.Second))
	due, next = s.failedLongEnough([]raft.ServerID{"a", "b"}, t0.Add(55*time.Second))
	if !slices.Equal(due, []raft.ServerID{"a"}) || next != 30*time.Second {
		t.Fatalf("after b flapped: due %v next %v, want [a] and 30s", due, next)
	}
	// No grace: removal as soon as failed.
	s0 := &Server{cfg: &Config{}}
	if due, next := s0.failedLongEnough([]raft.ServerID{"x"}, t0); !slices.Equal(due, []raft.ServerID{"x"}) || next != 0 {
		t.Fatalf("zero grace: due %v next %v", due, next)
	}
}
