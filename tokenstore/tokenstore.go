package tokenstore

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"consulate/internal/atomicfile"
)

// FileName is the file, in the data directory, that holds the tokens set
// through the API when token persistence is on (Consul's name).
const FileName = "acl-tokens.json"

// Kind is one of the agent's tokens, by Consul's name for it.
type Kind string

// The agent's tokens.
const (
	// KindDefault is the user token: used for requests that carry none,
	// and for DNS.
	KindDefault Kind = "default"
	// KindAgent is for the agent's own calls (anti-entropy, its node
	// registration); the default token stands in when it is unset.
	KindAgent Kind = "agent"
	// KindAgentRecovery may use the agent's own endpoints when the
	// servers cannot be reached.
	KindAgentRecovery Kind = "agent_recovery"
	// KindReplication is what a secondary datacenter replicates ACLs with.
	KindReplication Kind = "replication"
	// KindConfigFileServiceRegistration registers the services and checks
	// of config files.
	KindConfigFileServiceRegistration Kind = "config_file_service_registration"
)

// kindNames maps every name PUT /v1/agent/token/:type accepts, Consul's
// legacy ones included, to its kind.
var kindNames = map[string]Kind{
	"default":                          KindDefault,
	"acl_token":                        KindDefault,
	"agent":                            KindAgent,
	"acl_agent_token":                  KindAgent,
	"agent_recovery":                   KindAgentRecovery,
	"agent_master":                     KindAgentRecovery,
	"acl_agent_master_token":           KindAgentRecovery,
	"replication":                      KindReplication,
	"acl_replication_token":            KindReplication,
	"config_file_service_registration": KindConfigFileServiceRegistration,
}

// ErrUnknownKind is wrapped by the error for a token type Consul does not
// know (the HTTP API answers it with 404).
var ErrUnknownKind = errors.New("unknown token type")

// ErrDamaged is wrapped by Load's error when the persisted file cannot be
// decoded.
var ErrDamaged = errors.New("damaged token file")

// UnknownKindError is a token type name ParseKind does not know. Its
// message is Consul's: Token "x" is unknown.
type UnknownKindError struct{ Name string }

func (e *UnknownKindError) Error() string { return fmt.Sprintf("Token %q is unknown", e.Name) }

// Is makes errors.Is(err, ErrUnknownKind) true.
func (e *UnknownKindError) Is(target error) bool { return target == ErrUnknownKind }

// ParseKind maps a token type name (Consul's, or a legacy one such as
// acl_token or agent_master) to its Kind.
func ParseKind(name string) (Kind, error) {
	if k, ok := kindNames[name]; ok {
		return k, nil
	}
	return "", &UnknownKindError{Name: name}
}

// Config is the store's start state.
type Config struct {
	// DataDir holds FileName; needed when EnablePersistence is set.
	DataDir string
	// EnablePersistence (acl.enable_token_persistence) keeps tokens set
	// through the API across restarts.
	EnablePersistence bool
	// The configured tokens (acl.tokens.*), "" when unset.
	Default                       string
	Agent                         string
	AgentRecovery                 string
	Replication                   string
	ConfigFileServiceRegistration string
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// token is one token and whether the API set it (only those persist).
type token struct {
	secret  string
	fromAPI bool
}

// Store holds the agent's tokens. It is safe for concurrent use.
type Store struct {
	cfg    Config
	path   string
	logger *slog.Logger

	mu     sync.RWMutex
	tokens map[Kind]token
}

// New returns a store holding the configured tokens. Call Load at start
// to apply the persisted ones.
func New(cfg Config) (*Store, error) {
	if cfg.EnablePersistence && cfg.DataDir == "" {
		return nil, errors.New("tokenstore: token persistence needs a data directory")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, logger: logger, tokens: map[Kind]token{}}
	if cfg.DataDir != "" {
		s.path = filepath.Join(cfg.DataDir, FileName)
	}
	for k, v := range s.configured() {
		s.tokens[k] = token{secret: v}
	}
	return s, nil
}

func (s *Store) configured() map[Kind]string {
	return map[Kind]string{
		KindDefault:                       s.cfg.Default,
		KindAgent:                         s.cfg.Agent,
		KindAgentRecovery:                 s.cfg.AgentRecovery,
		KindReplication:                   s.cfg.Replication,
		KindConfigFileServiceRegistration: s.cfg.ConfigFileServiceRegistration,
	}
}

// Path is the persisted file's path ("" without a data directory).
func (s *Store) Path() string { return s.path }

// persisted is the file's JSON shape (Consul's keys).
type persisted struct {
	Replication                   string `json:"replication,omitempty"`
	AgentRecovery                 string `json:"agent_recovery,omitempty"`
	Default                       string `json:"default,omitempty"`
	Agent                         string `json:"agent,omitempty"`
	ConfigFileServiceRegistration string `json:"config_file_service_registration,omitempty"`
}

func (p *persisted) field(k Kind) *string {
	switch k {
	case KindDefault:
		return &p.Default
	case KindAgent:
		return &p.Agent
	case KindAgentRecovery:
		return &p.AgentRecovery
	case KindReplication:
		return &p.Replication
	case KindConfigFileServiceRegistration:
		return &p.ConfigFileServiceRegistration
	}
	return nil
}

var allKinds = []Kind{KindDefault, KindAgent, KindAgentRecovery, KindReplication, KindConfigFileServiceRegistration}

// Load applies the persisted tokens, when persistence is on: each token in
// the file replaces the configured one (Consul logs a warning when both
// are set, and so does Load). A missing file is no error; a file that
// cannot be read or decoded is, naming it (wrapping ErrDamaged when
// decoding failed), and leaves the tokens as configured.
func (s *Store) Load() error {
	if !s.cfg.EnablePersistence {
		return nil
	}
	buf, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenstore: reading %s: %w", s.path, err)
	}
	var file struct {
		persisted
		// Consul before 1.11 wrote the recovery token as agent_master.
		LegacyAgentMaster string `json:"agent_master,omitempty"`
	}
	if err := json.Unmarshal(buf, &file); err != nil {
		return fmt.Errorf("tokenstore: %s: %w: %v", s.path, ErrDamaged, err)
	}
	p := file.persisted
	if p.AgentRecovery == "" {
		p.AgentRecovery = file.LegacyAgentMaster
	}
	conf := s.configured()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range allKinds {
		v := *p.field(k)
		if v == "" {
			continue
		}
		if conf[k] != "" {
			s.logger.Warn(fmt.Sprintf("%q token present in both the configuration and persisted token store, using the persisted token", string(k)))
		}
		s.tokens[k] = token{secret: v, fromAPI: true}
	}
	return nil
}

// Set replaces one token, named as PUT /v1/agent/token/:type names it
// (legacy names included). With persistence on, the tokens set through
// the API are written to the file first; if that fails, nothing changes.
func (s *Store) Set(kind, secret string) error {
	k, err := ParseKind(kind)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.EnablePersistence {
		var p persisted
		for _, o := range allKinds {
			t := s.tokens[o]
			if o == k {
				t = token{secret: secret, fromAPI: true}
			}
			if t.fromAPI {
				*p.field(o) = t.secret
			}
		}
		buf, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("tokenstore: %w", err)
		}
		if err := atomicfile.Write(s.path, buf, 0o600); err != nil {
			return fmt.Errorf("tokenstore: persisting tokens: %w", err)
		}
	}
	s.tokens[k] = token{secret: secret, fromAPI: true}
	return nil
}

func (s *Store) get(k Kind) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokens[k].secret
}

// UserToken is the default token: for requests that carry no token.
func (s *Store) UserToken() string { return s.get(KindDefault) }

// AgentToken is the token for the agent's own calls; the user token when
// no agent token is set, as in Consul.
func (s *Store) AgentToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.tokens[KindAgent].secret; t != "" {
		return t
	}
	return s.tokens[KindDefault].secret
}

// AgentRecoveryToken is the agent recovery token.
func (s *Store) AgentRecoveryToken() string { return s.get(KindAgentRecovery) }

// ReplicationToken is the token ACL replication uses.
func (s *Store) ReplicationToken() string { return s.get(KindReplication) }

// ConfigFileServiceRegistrationToken is the token for services and checks
// defined in config files ("" when unset).
func (s *Store) ConfigFileServiceRegistrationToken() string {
	return s.get(KindConfigFileServiceRegistration)
}

// IsAgentRecoveryToken reports whether secret is the (non-empty) agent
// recovery token, comparing in constant time.
func (s *Store) IsAgentRecoveryToken(secret string) bool {
	r := s.AgentRecoveryToken()
	return secret != "" && r != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(r)) == 1
}
