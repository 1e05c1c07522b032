package chaos

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// OpKind is what one operation of the workload does.
type OpKind int

// The workload's operations on one key.
const (
	OpPut OpKind = iota // PUT /v1/kv/KEY
	OpCAS               // PUT /v1/kv/KEY?cas=INDEX
	OpGet               // GET /v1/kv/KEY?consistent
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpCAS:
		return "cas"
	case OpGet:
		return "get"
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// Input is one operation as the model sees it. A CAS names the value it
// expects instead of a modify index: every write stores a value never
// written before, so "the index I read" and "the value I read" name the
// same version of the key.
type Input struct {
	Kind  OpKind
	Key   string
	Value string // put, cas: the new value
	// Expect, ExpectFound: the version a CAS expects (ExpectFound false
	// means "the key is absent", Consul's cas=0).
	Expect      string
	ExpectFound bool
}

// Output is what the agent answered.
type Output struct {
	// Unknown: a write that got no answer (timeout, reset, 5xx); it may
	// or may not have taken effect. Its Return time is infinite.
	Unknown bool
	OK      bool   // cas: whether it applied
	Found   bool   // get: whether the key exists
	Value   string // get: the value
}

// kvState is one key's state: its value, if any.
type kvState struct {
	found bool
	value string
}

// Model is the porcupine model of one Consul KV key per partition, with
// put, CAS and linearizable get.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return kvState{} },
		Step: func(state, input, output any) (bool, any) {
			st := state.(kvState)
			in := input.(Input)
			out := output.(Output)
			switch in.Kind {
			case OpPut:
				return true, kvState{found: true, value: in.Value}
			case OpCAS:
				match := st.found == in.ExpectFound && (!st.found || st.value == in.Expect)
				if out.Unknown {
					// Linearized here it applied if it could; "never
					// happened" is linearizing it after everything.
					if match {
						return true, kvState{found: true, value: in.Value}
					}
					return true, st
				}
				if out.OK != match {
					return false, st
				}
				if match {
					return true, kvState{found: true, value: in.Value}
				}
				return true, st
			case OpGet:
				return out.Found == st.found && (!st.found || out.Value == st.value), st
			}
			return false, st
		},
		DescribeOperation: func(input, output any) string {
			in := input.(Input)
			out := output.(Output)
			switch in.Kind {
			case OpPut:
				if out.Unknown {
					return fmt.Sprintf("put(%s)=? ", in.Value)
				}
				return fmt.Sprintf("put(%s)", in.Value)
			case OpCAS:
				exp := "absent"
				if in.ExpectFound {
					exp = in.Expect
				}
				res := fmt.Sprint(out.OK)
				if out.Unknown {
					res = "?"
				}
				return fmt.Sprintf("cas(%s→%s)=%s", exp, in.Value, res)
			case OpGet:
				if !out.Found {
					return "get()=absent"
				}
				return fmt.Sprintf("get()=%s", out.Value)
			}
			return "?"
		},
		DescribeState: func(state any) string {
			st := state.(kvState)
			if !st.found {
				return "absent"
			}
			return st.value
		},
	}
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}
