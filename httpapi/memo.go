package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"consulate/structs"
	"consulate/views"
)

// The encoded bodies of /v1/health/service answers served from a client's
// live views (package views) are kept, keyed by the answering view state's
// generation and by what else shapes the body, so the reads that follow
// (every poller of a service, every blocking read woken by the same
// change) are answered with the same bytes without filtering, copying or
// encoding again. A view's generation changes with every change of the
// view (index, instances, ACL filtering), and views are per token, so a
// body never outlives its state nor crosses tokens. Reads the views did
// not answer (servers, read through, ?cached) are never kept, nor reads
// sorted by ?near= (the order follows coordinates, not the view).

// Bounds of the memo: entries, total bytes, and the largest body kept.
const (
	memoMaxEntries = 64
	memoMaxBytes   = 4 << 20
	memoMaxBody    = 1 << 20
)

// memoKey is one body: the view state, then the read's variant.
type memoKey struct {
	gen                        uint64
	passing, pretty, translate bool
	// extra holds ?tag=, ?node-meta= and ?filter= ("" without them).
	extra string
}

// bodyMemo is a small FIFO-evicted map of encoded bodies.
type bodyMemo struct {
	mu    sync.Mutex
	m     map[memoKey][]byte
	order []memoKey // insertion order, oldest first
	bytes int
}

func newBodyMemo() *bodyMemo { return &bodyMemo{m: make(map[memoKey][]byte)} }

func (c *bodyMemo) get(k memoKey) ([]byte, bool) {
	c.mu.Lock()
	b, ok := c.m[k]
	c.mu.Unlock()
	return b, ok
}

func (c *bodyMemo) put(k memoKey, b []byte) {
	if len(b) > memoMaxBody {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	for len(c.order) > 0 && (len(c.order) >= memoMaxEntries || c.bytes+len(b) > memoMaxBytes) {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= len(c.m[old])
		delete(c.m, old)
	}
	c.m[k] = b
	c.order = append(c.order, k)
	c.bytes += len(b)
}

// len is the number of bodies held (tests).
func (c *bodyMemo) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// memoExtra encodes the variant parameters beyond the flags, each length
// prefixed so no two variants collide.
func memoExtra(args *structs.ServiceSpecificRequest) string {
	if !args.TagFilter && len(args.NodeMetaFilters) == 0 && args.Filter == "" {
		return ""
	}
	var b strings.Builder
	add := func(tag byte, v string) {
		b.WriteByte(tag)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	if args.TagFilter {
		for _, t := range args.ServiceTags {
			add('t', t)
		}
	}
	keys := make([]string, 0, len(args.NodeMetaFilters))
	for k := range args.NodeMetaFilters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add('m', k)
		add('v', args.NodeMetaFilters[k])
	}
	add('f', args.Filter)
	return b.String()
}

// encodeJSON is the body serve writes for obj (pretty: ?pretty).
func encodeJSON(obj any, pretty bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if pretty {
		enc.SetIndent("", "    ")
	}
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// jsonBody returns an encoded JSON body as serve would write it.
func jsonBody(w http.ResponseWriter, b []byte) rawBody {
	w.Header()["Content-Type"] = valJSON
	return rawBody(b)
}

// healthProbe is the views probe of one /v1/health/service read.
type healthProbe struct {
	views.Probe
	memo *bodyMemo
	key  memoKey
	body []byte // the memoized body, on a hit
}

func (p *healthProbe) known(gen uint64) bool {
	p.key.gen = gen
	p.body, _ = p.memo.get(p.key)
	return p.body != nil
}
