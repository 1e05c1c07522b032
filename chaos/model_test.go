package chaos

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func put(client int, key, val string, call, ret int) Record {
	return Record{Client: client, Input: Input{Kind: OpPut, Key: key, Value: val},
		Call: time.Duration(call), Return: time.Duration(ret)}
}

func unknownPut(client int, key, val string, call int) Record {
	r := put(client, key, val, call, math.MaxInt64)
	r.Output.Unknown = true
	r.Err = errTest
	return r
}

func get(client int, key, val string, call, ret int) Record {
	out := Output{Found: val != "", Value: val}
	return Record{Client: client, Input: Input{Kind: OpGet, Key: key}, Output: out,
		Call: time.Duration(call), Return: time.Duration(ret)}
}

func cas(client int, key, expect, val string, ok bool, call, ret int) Record {
	return Record{Client: client, Input: Input{Kind: OpCAS, Key: key, Value: val, Expect: expect, ExpectFound: expect != ""},
		Output: Output{OK: ok}, Call: time.Duration(call), Return: time.Duration(ret)}
}

type testErr struct{}

func (testErr) Error() string { return "timeout" }

var errTest = testErr{}

// The model accepts what a linearizable KV may answer and rejects what it
// may not: each case would pass a checker that checked nothing.
func TestModel(t *testing.T) {
	cases := []struct {
		name string
		h    []Record
		want porcupine.CheckResult
	}{
		{"read your write", []Record{put(0, "k", "a", 0, 10), get(1, "k", "a", 20, 30)}, porcupine.Ok},
		{"stale read", []Record{put(0, "k", "a", 0, 10), put(0, "k", "b", 20, 30), get(1, "k", "a", 40, 50)}, porcupine.Illegal},
		{"lost acknowledged write", []Record{put(0, "k", "a", 0, 10), get(1, "k", "", 20, 30)}, porcupine.Illegal},
		{"concurrent read may see either", []Record{put(0, "k", "a", 0, 100), get(1, "k", "", 10, 20), get(2, "k", "a", 30, 40)}, porcupine.Ok},
		{"unknown write that happened", []Record{unknownPut(0, "k", "a", 0), get(1, "k", "a", 20, 30)}, porcupine.Ok},
		{"unknown write that did not", []Record{unknownPut(0, "k", "a", 0), get(1, "k", "", 20, 30)}, porcupine.Ok},
		{"unknown write cannot flicker", []Record{unknownPut(0, "k", "a", 0), get(1, "k", "a", 20, 30), get(1, "k", "", 40, 50)}, porcupine.Illegal},
		{"cas on the current version", []Record{put(0, "k", "a", 0, 10), cas(1, "k", "a", "b", true, 20, 30), get(2, "k", "b", 40, 50)}, porcupine.Ok},
		{"cas that reports false but applied", []Record{put(0, "k", "a", 0, 10), cas(1, "k", "a", "b", false, 20, 30), get(2, "k", "b", 40, 50)}, porcupine.Illegal},
		{"cas on an old version succeeded", []Record{put(0, "k", "a", 0, 10), put(0, "k", "c", 20, 30), cas(1, "k", "a", "b", true, 40, 50)}, porcupine.Illegal},
		{"create-only cas on an absent key", []Record{cas(1, "k", "", "b", true, 0, 10), get(2, "k", "b", 20, 30)}, porcupine.Ok},
		{"unseen unknown write explains a failed cas", []Record{put(0, "k", "a", 0, 10), unknownPut(2, "k", "x", 12),
			get(1, "k", "a", 11, 20), cas(1, "k", "a", "b", false, 30, 40), put(3, "k", "c", 50, 60), get(1, "k", "c", 70, 80)}, porcupine.Ok},
		{"failed cas with no write to blame", []Record{put(0, "k", "a", 0, 10), get(1, "k", "a", 11, 20),
			cas(1, "k", "a", "b", false, 30, 40)}, porcupine.Illegal},
		{"keys are independent", []Record{put(0, "k", "a", 0, 10), get(1, "j", "", 20, 30), get(1, "k", "a", 40, 50)}, porcupine.Ok},
	}
	for _, c := range cases {
		got := porcupine.CheckOperationsTimeout(Model(), Operations(c.h), 10*time.Second)
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// An unknown write nobody observed is left out of the checked history;
// one whose value was read stays, and so does one that a later failed CAS
// may have seen.
func TestOperationsPrunesUnseenUnknownWrites(t *testing.T) {
	h := []Record{unknownPut(0, "k", "a", 0), unknownPut(1, "k", "b", 0), get(2, "k", "b", 10, 20),
		{Client: 3, Input: Input{Kind: OpGet, Key: "k"}, Err: errTest, Call: 5, Return: 6}}
	ops := Operations(h)
	if len(ops) != 2 {
		t.Fatalf("%d operations, want 2 (the observed unknown write and the read): %+v", len(ops), ops)
	}
	if ops[0].Input.(Input).Value != "b" || ops[0].Return != math.MaxInt64 {
		t.Fatalf("kept %+v", ops[0])
	}
	h = append(h, cas(4, "k", "b", "d", false, 30, 40))
	if ops := Operations(h); len(ops) != 4 {
		t.Fatalf("%d operations, want 4 (a failed CAS keeps the unseen unknown write): %+v", len(ops), ops)
	}
}
