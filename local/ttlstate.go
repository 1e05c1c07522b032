package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// checkStateDir keeps the last status of TTL checks, so a restarted agent
// reports what the application last said rather than the initial status,
// until that report's TTL would have expired anyway.
const checkStateDir = "checks-state"

type persistedCheckState struct {
	CheckID string
	Status  string
	Output  string
	Expires time.Time
}

// persistTTLState records a TTL check's status; errors are logged, the
// status change itself already happened.
func (s *State) persistTTLState(id, status, output string, ttl time.Duration) {
	if s.cfg.DataDir == "" {
		return
	}
	b, err := json.Marshal(persistedCheckState{CheckID: id, Status: status, Output: output, Expires: s.cfg.Now().Add(ttl)})
	if err == nil {
		err = writeFileAtomic(s.filePath(checkStateDir, id), b)
	}
	if err != nil {
		s.logger.Warn("persisting TTL check state", "check", id, "error", err)
	}
}

// restoreTTLStates applies saved TTL statuses that have not expired and
// deletes the rest.
func (s *State) restoreTTLStates() {
	if s.cfg.DataDir == "" {
		return
	}
	states, err := readDir[persistedCheckState](s.logger, filepath.Join(s.cfg.DataDir, checkStateDir))
	if err != nil {
		// Saved TTL statuses are a courtesy; without them checks start
		// from their initial status.
		s.logger.Warn("reading TTL check states", "error", err)
		return
	}
	for path, st := range states {
		if st.CheckID == "" || !s.cfg.Now().Before(st.Expires) || s.Check(st.CheckID) == nil {
			os.Remove(path)
			continue
		}
		if err := s.UpdateTTLCheck(st.CheckID, st.Status, st.Output); err != nil {
			os.Remove(path)
		}
	}
}

// removeCheckFiles deletes a check's definition and saved TTL state.
func (s *State) removeCheckFiles(id string) {
	s.removeFile(checksDir, id)
	s.removeFile(checkStateDir, id)
}
