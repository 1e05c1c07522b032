package agent

// remoteFromMemory is the DNS cache's Reachable hook: it never lets the
// cache answer for another datacenter from memory. A cache cannot know
// that the WAN was cut a moment ago, so it would answer NOERROR from a
// view that may be dead until its refresh failed (for over a second into
// a cut, as e2e/TestWANPartition measured). Read through, a lookup gets
// the router's answer: fresh, or SERVFAIL within milliseconds once the
// servers know the datacenter is unreachable. Consul's DNS also reads
// from the servers unless use_cache is set.
func remoteFromMemory(string) bool { return false }
