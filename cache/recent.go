package cache

// recentSet remembers up to max keys, forgetting the least recently added
// first. It is not safe for concurrent use.
type recentSet struct {
	max   int
	items map[string]*recentItem
	// head is the most recent item, tail the least; the list is circular
	// through a sentinel so that links are never nil.
	root recentItem
}

type recentItem struct {
	key        string
	prev, next *recentItem
}

func newRecentSet(max int) recentSet {
	return recentSet{max: max, items: make(map[string]*recentItem)}
}

func (s *recentSet) init() {
	if s.root.next == nil {
		s.root.next, s.root.prev = &s.root, &s.root
	}
}

func (s *recentSet) unlink(it *recentItem) {
	it.prev.next, it.next.prev = it.next, it.prev
	it.prev, it.next = nil, nil
}

func (s *recentSet) pushFront(it *recentItem) {
	it.prev, it.next = &s.root, s.root.next
	s.root.next.prev = it
	s.root.next = it
}

// add remembers key as the most recent, forgetting the oldest key when
// the set is full.
func (s *recentSet) add(key string) {
	s.init()
	if it, ok := s.items[key]; ok {
		s.unlink(it)
		s.pushFront(it)
		return
	}
	if len(s.items) >= s.max {
		old := s.root.prev
		s.unlink(old)
		delete(s.items, old.key)
	}
	it := &recentItem{key: key}
	s.items[key] = it
	s.pushFront(it)
}

// remove forgets key and reports whether it was remembered.
func (s *recentSet) remove(key string) bool {
	it, ok := s.items[key]
	if !ok {
		return false
	}
	s.unlink(it)
	delete(s.items, key)
	return true
}

func (s *recentSet) len() int { return len(s.items) }
