package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"consulate/structs"
)

// defLoc locates a definition for errors: the source and the key path.
type defLoc struct {
	src string
	key string
}

func (l defLoc) errorf(format string, args ...any) error {
	return &Error{Source: l.src, Key: l.key, Err: invalid(format, args...)}
}

// scriptCheck remembers a script check so it can be refused once the
// merged enable_script_checks settings are known.
type scriptCheck struct {
	loc  defLoc
	what string
}

// convertService checks one service stanza and turns it into the shared
// definition type.
// A service of a kind Consulate does not run (a Connect proxy or gateway)
// is not registered: it returns nil and a warning is added to warns.
func convertService(loc defLoc, d *ServiceDef, scripts *[]scriptCheck, warns *[]string) (*structs.ServiceDefinition, error) {
	out := &structs.ServiceDefinition{
		Kind:    str(d.Kind),
		ID:      str(d.ID),
		Name:    str(d.Name),
		Tags:    d.Tags,
		Address: str(d.Address),
		Port:    intv(d.Port),
		Meta:    d.Meta,
		Weights: &structs.Weights{Passing: 1, Warning: 1},
		Token:   str(d.Token),
	}
	if d.EnableTagOverride != nil {
		out.EnableTagOverride = *d.EnableTagOverride
	}
	if strings.TrimSpace(out.Name) == "" {
		return nil, defLoc{loc.src, joinPath(loc.key, "name")}.errorf("a service needs a name")
	}
	switch out.Kind {
	case "", "typical":
	case "connect-proxy", "mesh-gateway", "terminating-gateway", "ingress-gateway", "api-gateway":
		*warns = append(*warns, ignoredWarning(loc.src, joinPath(loc.key, "kind"),
			fmt.Sprintf("service %q of kind %q is not registered: %s", out.Name, out.Kind, whyMesh)))
		return nil, nil
	default:
		return nil, defLoc{loc.src, joinPath(loc.key, "kind")}.errorf("service %q: unknown kind %q", out.Name, out.Kind)
	}
	out.Kind = ""
	if out.Port < 0 || out.Port > 65535 {
		return nil, defLoc{loc.src, joinPath(loc.key, "port")}.errorf("service %q: port %d is out of range 0-65535", out.Name, out.Port)
	}
	if err := validateMeta(out.Meta); err != nil {
		return nil, defLoc{loc.src, joinPath(loc.key, "meta")}.errorf("service %q: %v", out.Name, err)
	}
	if w := d.Weights; w != nil {
		if w.Passing != nil {
			out.Weights.Passing = *w.Passing
		}
		if w.Warning != nil {
			out.Weights.Warning = *w.Warning
		}
		if out.Weights.Passing < 1 || out.Weights.Warning < 0 {
			return nil, defLoc{loc.src, joinPath(loc.key, "weights")}.errorf("service %q: passing must be >= 1 and warning >= 0", out.Name)
		}
	}
	if len(d.TaggedAddresses) > 0 {
		out.TaggedAddresses = map[string]structs.ServiceAddress{}
		for k, a := range d.TaggedAddresses {
			sa := structs.ServiceAddress{Address: str(a.Address), Port: intv(a.Port)}
			if sa.Port < 0 || sa.Port > 65535 {
				return nil, defLoc{loc.src, joinPath(loc.key, "tagged_addresses."+k)}.errorf("port %d is out of range 0-65535", sa.Port)
			}
			out.TaggedAddresses[k] = sa
		}
	}
	sid := out.ID
	if sid == "" {
		sid = out.Name
	}
	add := func(key string, c *CheckDef) (*structs.CheckType, error) {
		ct, err := convertCheck(defLoc{loc.src, key}, c, fmt.Sprintf("service %q", out.Name), scripts, warns)
		if err != nil || ct == nil {
			return nil, err
		}
		if ct.Token != "" {
			// As in Consul: a service's checks sync with its token.
			*warns = append(*warns, ignoredWarning(loc.src, joinPath(key, "token"),
				fmt.Sprintf("a check defined in service %q syncs with the service's token", out.Name)))
			ct.Token = ""
		}
		ct.ServiceID = sid
		return ct, nil
	}
	// Check stays first so check IDs stay as Consul numbers them.
	if d.Check != nil {
		ct, err := add(joinPath(loc.key, "check"), d.Check)
		if err != nil {
			return nil, err
		}
		out.Check = ct
	}
	for i, c := range d.Checks {
		ct, err := add(fmt.Sprintf("%s[%d]", joinPath(loc.key, "checks"), i), c)
		if err != nil {
			return nil, err
		}
		if ct != nil {
			out.Checks = append(out.Checks, ct)
		}
	}
	return out, nil
}

// convertCheck validates a check like Consul does: exactly one kind, an
// interval for every kind but TTL and alias, a ttl for TTL checks. A
// Docker check, which Consulate does not run, is registered but stays
// critical (with a warning): Consul on a host without Docker reports it
// critical too, and leaving it out would show the service healthy on a
// check nobody runs.
func convertCheck(loc defLoc, c *CheckDef, owner string, scripts *[]scriptCheck, warns *[]string) (*structs.CheckType, error) {
	ct := &structs.CheckType{
		CheckID:   str(c.ID),
		Name:      str(c.Name),
		Notes:     str(c.Notes),
		ServiceID: str(c.ServiceID),
		Status:    strings.ToLower(str(c.Status)),
		HTTP:      str(c.HTTP),
		Header:    c.Header,
		Method:    strings.ToUpper(str(c.Method)),
		Body:      str(c.Body),
		TCP:       str(c.TCP),
		UDP:       str(c.UDP),
		H2PING:    str(c.H2Ping),
		GRPC:      str(c.GRPC),
		OSService: str(c.OSService),
		Args:      c.Args,
		Script:    str(c.Script),
		TTL:       dur(c.TTL),
		Interval:  dur(c.Interval),
		Timeout:   dur(c.Timeout),

		DeregisterCriticalServiceAfter: dur(c.DeregisterCriticalServiceAfter),
		Token:                          str(c.Token),
	}
	if c.TLSSkipVerify != nil {
		ct.TLSSkipVerify = *c.TLSSkipVerify
	}
	ct.TLSServerName = str(c.TLSServerName)
	// h2ping_use_tls defaults to true, as in Consul (kept only on H2PING
	// checks, so other definitions compare as before).
	ct.H2PingUseTLS = ct.H2PING != "" && (c.H2PingUseTLS == nil || *c.H2PingUseTLS)
	if c.GRPCUseTLS != nil {
		ct.GRPCUseTLS = *c.GRPCUseTLS
	}
	ct.DockerContainerID, ct.Shell = str(c.DockerContainerID), str(c.Shell)
	ct.AliasNode, ct.AliasService = str(c.AliasNode), str(c.AliasService)
	if c.DisableRedirects != nil {
		ct.DisableRedirects = *c.DisableRedirects
	}
	ct.OutputMaxSize = intv(c.OutputMaxSize)
	ct.SuccessBeforePassing = intv(c.SuccessBeforePassing)
	ct.FailuresBeforeWarning = intv(c.FailuresBeforeWarning)
	ct.FailuresBeforeCritical = intv(c.FailuresBeforeCritical)
	what := owner
	if ct.Name != "" || ct.CheckID != "" {
		label := ct.Name
		if label == "" {
			label = ct.CheckID
		}
		if what != "" {
			what += ": "
		}
		what += fmt.Sprintf("check %q", label)
	} else if what == "" {
		what = "check"
	} else {
		what += ": check"
	}

	for name, v := range map[string]int{
		"output_max_size": ct.OutputMaxSize, "success_before_passing": ct.SuccessBeforePassing,
		"failures_before_warning": ct.FailuresBeforeWarning, "failures_before_critical": ct.FailuresBeforeCritical,
	} {
		if v < 0 {
			return nil, defLoc{loc.src, joinPath(loc.key, name)}.errorf("%s: must not be negative, got %d", what, v)
		}
	}

	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"docker", ct.DockerContainerID != ""}, {"http", ct.HTTP != ""}, {"tcp", ct.TCP != ""},
		{"udp", ct.UDP != ""}, {"h2ping", ct.H2PING != ""}, {"grpc", ct.GRPC != ""},
		{"os_service", ct.OSService != ""}, {"alias", ct.AliasNode != "" || ct.AliasService != ""},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	if c.TTL != nil {
		kinds = append(kinds, "ttl")
	}
	if (len(ct.Args) > 0 || ct.Script != "") && ct.DockerContainerID == "" {
		kinds = append(kinds, "args/script")
	}
	switch {
	case len(kinds) == 0:
		return nil, loc.errorf("%s: needs one of http, tcp, udp, h2ping, grpc, os_service, docker_container_id, alias_service, alias_node, ttl, args or script", what)
	case len(kinds) > 1:
		return nil, loc.errorf("%s: takes only one of http, tcp, udp, h2ping, grpc, os_service, docker_container_id, alias_service/alias_node, ttl, args or script, got %s", what, strings.Join(kinds, " and "))
	}
	if len(ct.Args) > 0 && ct.Script != "" {
		return nil, loc.errorf("%s: args and script cannot both be set", what)
	}
	if kinds[0] == "docker" && len(ct.Args) == 0 && ct.Script == "" {
		return nil, loc.errorf("%s: docker_container_id needs args or script", what)
	}
	for name, d := range map[string]time.Duration{"ttl": ct.TTL, "interval": ct.Interval, "timeout": ct.Timeout, "deregister_critical_service_after": ct.DeregisterCriticalServiceAfter} {
		if d < 0 {
			return nil, loc.errorf("%s: %s must not be negative", what, name)
		}
	}
	switch kinds[0] {
	case "ttl":
		if ct.TTL <= 0 {
			return nil, loc.errorf("%s: ttl must be > 0", what)
		}
		if ct.Interval > 0 {
			return nil, loc.errorf("%s: ttl and interval cannot both be set", what)
		}
	case "alias":
		// An alias check watches its target; it takes no interval.
	default:
		if ct.Interval <= 0 {
			return nil, loc.errorf("%s: a %s check needs an interval", what, kinds[0])
		}
	}
	switch ct.Status {
	case "", "passing", "warning", "critical":
	default:
		return nil, loc.errorf("%s: status must be passing, warning or critical, got %q", what, ct.Status)
	}
	if ct.HTTP != "" {
		u, err := url.Parse(ct.HTTP)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, loc.errorf("%s: http must be an http:// or https:// URL, got %q", what, ct.HTTP)
		}
	}
	for key, addr := range map[string]string{"tcp": ct.TCP, "udp": ct.UDP, "h2ping": ct.H2PING} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, loc.errorf("%s: %s must be host:port, got %q", what, key, addr)
		}
	}
	if ct.GRPC != "" {
		if hp, _, _ := strings.Cut(ct.GRPC, "/"); hp == "" {
			return nil, loc.errorf("%s: grpc must be host:port or host:port/service, got %q", what, ct.GRPC)
		} else if _, _, err := net.SplitHostPort(hp); err != nil {
			return nil, loc.errorf("%s: grpc must be host:port or host:port/service, got %q", what, ct.GRPC)
		}
	}
	if ct.DockerContainerID != "" {
		*warns = append(*warns, ignoredWarning(loc.src, joinPath(loc.key, "docker_container_id"),
			fmt.Sprintf("%s: Consulate does not run Docker checks; this check is registered and stays critical", what)))
	}
	if kinds[0] == "args/script" {
		*scripts = append(*scripts, scriptCheck{loc: loc, what: what})
	}
	return ct, nil
}

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// validateMeta applies Consul's limits to node and service metadata.
func validateMeta(m map[string]string) error {
	if len(m) > 64 {
		return fmt.Errorf("at most 64 key/value pairs, got %d", len(m))
	}
	for k, v := range m {
		switch {
		case k == "":
			return fmt.Errorf("a key must not be empty")
		case len(k) > 128:
			return fmt.Errorf("key %q is longer than 128 characters", k)
		case !metaKeyRE.MatchString(k):
			return fmt.Errorf("key %q may hold only letters, digits, '_' and '-'", k)
		case strings.HasPrefix(k, "consul-"):
			return fmt.Errorf("key %q uses the reserved prefix \"consul-\"", k)
		case len(v) > 512:
			return fmt.Errorf("value of %q is longer than 512 characters", k)
		}
	}
	return nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func intv(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func dur(p *time.Duration) time.Duration {
	if p == nil {
		return 0
	}
	return *p
}
