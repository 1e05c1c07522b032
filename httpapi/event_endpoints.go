package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/go-uuid"

	"consulate/acl"
	"consulate/structs"
)

// maxEventPayload bounds a user event's payload (Consul's limit on the
// whole gossip message is 512 bytes; the agent checks the total).
const maxEventPayload = 100 * 1024

// uuidIndex folds an event ID into the X-Consul-Index of /v1/event/list,
// as Consul does: the two halves of the UUID XORed.
func uuidIndex(id string) uint64 {
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8]) ^ binary.BigEndian.Uint64(b[8:])
}

func (s *Server) eventFire(w http.ResponseWriter, r *http.Request) (any, error) {
	name := tail(r, "/v1/event/fire/")
	if name == "" {
		return nil, badRequest("Missing name")
	}
	q := query(r)
	id, err := uuid.GenerateUUID()
	if err != nil {
		return nil, err
	}
	ev := &structs.UserEvent{
		ID: id, Name: name, NodeFilter: q.Get("node"), ServiceFilter: q.Get("service"), TagFilter: q.Get("tag"),
	}
	if ev.TagFilter != "" && ev.ServiceFilter == "" {
		return nil, badRequest("Cannot provide tag filter without service filter")
	}
	if err := s.authorizeFor(r, acl.ResourceEvent, name, acl.AccessWrite); err != nil {
		return nil, err
	}
	payload, err := readBody(r, maxEventPayload)
	if err != nil {
		return nil, err
	}
	if len(payload) > 0 {
		ev.Payload = payload
	}
	if err := s.agent.FireEvent(r.Context(), ev, q.Get("dc"), token(r)); err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *Server) eventList(w http.ResponseWriter, r *http.Request) (any, error) {
	var q structs.QueryOptions
	f, err := s.parseRead(r, nil, &q)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.UserEvent{}); err != nil {
		return nil, err
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	filtered := false
	name := query(r).Get("name")
	want := ""
	if _, ok := query(r)["index"]; ok {
		want = strconv.FormatUint(q.MinQueryIndex, 10)
	}
	wait := q.MaxQueryTime
	obj, ver, err := s.blockLocal(r, want, wait, func() (any, string, error) {
		var out []*structs.UserEvent
		filtered = false
		for _, ev := range s.agent.UserEvents() {
			if name != "" && ev.Name != name {
				continue
			}
			if !z.Allow(acl.ResourceEvent, ev.Name, acl.AccessRead) {
				filtered = true
				continue
			}
			if f != nil && !f.Match(ev) {
				continue
			}
			out = append(out, ev)
		}
		// Consul reports 1 for no events; the header and the version
		// must agree or a blocking list returns at once, forever.
		idx := uint64(1)
		if len(out) > 0 {
			idx = uuidIndex(out[len(out)-1].ID)
		}
		if out == nil {
			out = []*structs.UserEvent{}
		}
		return out, strconv.FormatUint(idx, 10), nil
	})
	if err != nil {
		return nil, err
	}
	idx, _ := strconv.ParseUint(ver, 10, 64)
	setFiltered(w, filtered)
	setMeta(w, &q, &structs.QueryMeta{Index: idx, KnownLeader: true})
	return obj, nil
}
