package local

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"consulate/internal/atomicfile"
	"consulate/structs"
)

// Data-dir layout: one JSON file per service and per check, named by the
// SHA-256 of the ID so any ID makes a safe file name.
const (
	servicesDir = "services"
	checksDir   = "checks"
)

// persistedService is a service file. Token is the registration's ACL
// token (absent in files written before tokens were kept, which load
// with none); the files are 0600, as Consul keeps them.
type persistedService struct {
	Service *structs.NodeService
	Source  string
	Token   string `json:",omitempty"`
}

// persistedCheck is a check file; ChkType is nil for checks nothing runs.
type persistedCheck struct {
	Check   *structs.HealthCheck
	ChkType *structs.CheckType `json:",omitempty"`
	Source  string
	// FromService marks a check defined with its service.
	FromService bool `json:",omitempty"`
	// Token is as persistedService.Token.
	Token string `json:",omitempty"`
}

func fileName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (s *State) filePath(dir, id string) string {
	return filepath.Join(s.cfg.DataDir, dir, fileName(id))
}

// writeFileAtomic replaces path with data (mode 0600) so that a crash
// leaves the old file or the new, never an empty or partial one.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

func (s *State) removeFile(dir, id string) {
	if s.cfg.DataDir == "" {
		return
	}
	p := s.filePath(dir, id)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.logger.Warn("failed to remove persisted file", "path", p, "error", err)
	}
}

// persistServiceLocked writes a service and its checks.
func (s *State) persistServiceLocked(id string) error {
	if s.cfg.DataDir == "" {
		return nil
	}
	ss := s.services[id]
	if ss == nil || ss.deleted {
		return nil
	}
	data, err := json.Marshal(persistedService{Service: ss.svc, Source: ss.source, Token: ss.token})
	if err != nil {
		return fmt.Errorf("local: encoding service %q: %w", id, err)
	}
	if err := writeFileAtomic(s.filePath(servicesDir, id), data); err != nil {
		return err
	}
	for cid, c := range s.checks {
		if !c.deleted && c.check.ServiceID == id {
			if err := s.persistCheckLocked(cid); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *State) persistCheckLocked(id string) error {
	if s.cfg.DataDir == "" {
		return nil
	}
	c := s.checks[id]
	if c == nil || c.deleted {
		return nil
	}
	data, err := json.Marshal(persistedCheck{Check: c.check, ChkType: c.ct, Source: c.source, FromService: c.fromService, Token: c.token})
	if err != nil {
		return fmt.Errorf("local: encoding check %q: %w", id, err)
	}
	return writeFileAtomic(s.filePath(checksDir, id), data)
}

// readDir decodes every file in one data-dir subdirectory. A file that
// cannot be read or decoded (empty, truncated, garbage: what a crash or a
// full disk can leave) is logged by name and skipped, as Consul does, so
// one damaged file never keeps the agent from starting; the file stays
// for the operator to inspect. Only an unreadable directory is an error.
func readDir[T any](logger *slog.Logger, dir string) (map[string]*T, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local: reading %s: %w", dir, err)
	}
	out := make(map[string]*T)
	for _, e := range entries {
		if e.IsDir() || atomicfile.IsTemp(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			logger.Error("skipping persisted file that cannot be read", "file", p, "error", err)
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			logger.Error("skipping empty persisted file", "file", p)
			continue
		}
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			logger.Error("skipping persisted file that cannot be decoded", "file", p, "error", err)
			continue
		}
		out[p] = v
	}
	return out, nil
}

// Load restores the services and checks persisted in the data dir. IDs
// already present locally are skipped (a config-sourced service wins and
// its persisted copy is purged), so calling it again is harmless. New
// calls it. Damaged files are logged by name and skipped.
func (s *State) Load() error {
	if s.cfg.DataDir == "" {
		return nil
	}
	svcs, err := readDir[persistedService](s.logger, filepath.Join(s.cfg.DataDir, servicesDir))
	if err != nil {
		return err
	}
	chks, err := readDir[persistedCheck](s.logger, filepath.Join(s.cfg.DataDir, checksDir))
	if err != nil {
		return err
	}
	byService := make(map[string][]*persistedCheck)
	var standalone []*persistedCheck
	for _, p := range slices.Sorted(maps.Keys(chks)) {
		pc := chks[p]
		if pc.Check == nil || pc.Check.CheckID == "" {
			s.logger.Error("skipping persisted file that holds no check", "file", p)
			continue
		}
		if pc.Check.ServiceID == "" {
			standalone = append(standalone, pc)
		} else {
			byService[pc.Check.ServiceID] = append(byService[pc.Check.ServiceID], pc)
		}
	}
	loaded := make(map[string]bool)
	for _, p := range slices.Sorted(maps.Keys(svcs)) {
		ps := svcs[p]
		if ps.Service == nil || (ps.Service.ID == "" && ps.Service.Service == "") {
			s.logger.Error("skipping persisted file that holds no service", "file", p)
			continue
		}
		id := ps.Service.ID
		if s.ServiceSource(id) != "" {
			if s.ServiceSource(id) == SourceConfig {
				s.logger.Info("service defined in config; purging persisted copy", "service", id)
				os.Remove(p)
			}
			continue
		}
		var cts []*structs.CheckType
		var static []*persistedCheck
		for _, pc := range byService[id] {
			if pc.ChkType != nil && pc.FromService {
				cts = append(cts, pc.ChkType)
			} else {
				static = append(static, pc)
			}
		}
		if err := s.addService(ps.Service, cts, false, ps.Source, ps.Token, true); err != nil {
			// One definition that no longer loads (script checks turned
			// off since, say) must not keep the agent from starting.
			s.logger.Warn("dropping persisted service that no longer loads", "service", id, "file", p, "error", err)
			os.Remove(p)
			for _, pc := range byService[id] {
				s.removeCheckFiles(pc.Check.CheckID)
			}
			continue
		}
		loaded[id] = true
		for _, pc := range static {
			if err := s.addCheck(pc.Check, pc.ChkType, false, pc.Source, pc.Token); err != nil {
				s.logger.Warn("dropping persisted check that no longer loads", "check", pc.Check.CheckID, "error", err)
				s.removeCheckFiles(pc.Check.CheckID)
			}
		}
	}
	for sid, pcs := range byService {
		if loaded[sid] || s.Service(sid) != nil {
			continue
		}
		for _, pc := range pcs {
			s.logger.Warn("persisted check for unknown service; purging", "check", pc.Check.CheckID, "service", sid)
			s.removeFile(checksDir, pc.Check.CheckID)
		}
	}
	for _, pc := range standalone {
		if s.Check(pc.Check.CheckID) != nil {
			continue
		}
		if err := s.addCheck(pc.Check, pc.ChkType, false, pc.Source, pc.Token); err != nil {
			s.logger.Warn("dropping persisted check that no longer loads", "check", pc.Check.CheckID, "error", err)
			s.removeCheckFiles(pc.Check.CheckID)
		}
	}
	s.restoreTTLStates()
	return nil
}
