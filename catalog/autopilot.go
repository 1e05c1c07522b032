package catalog

import (
	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// autopilotRow is the one stored autopilot configuration.
type autopilotRow struct {
	ID     string
	Config structs.AutopilotConfig
}

// autopilotRowID is the key of the one row.
const autopilotRowID = "autopilot"

// AutopilotSetRequest is the Raft message of AutopilotSetType.
type AutopilotSetRequest struct {
	Config structs.AutopilotConfig
	// CAS writes only when the stored configuration's ModifyIndex is
	// Config.ModifyIndex (0: only when none is stored).
	CAS bool
}

// AutopilotSet stores the autopilot configuration, keeping the stored
// one's CreateIndex. With cas it writes only when the stored
// configuration's ModifyIndex equals cfg.ModifyIndex (0: none stored);
// it reports whether it wrote.
func (s *Store) AutopilotSet(idx uint64, cfg *structs.AutopilotConfig, cas bool) (bool, error) {
	txn := s.db.Txn(true)
	defer txn.Abort()
	raw, err := txn.First(tableAutopilot, "id", autopilotRowID)
	if err != nil {
		return false, err
	}
	row := &autopilotRow{ID: autopilotRowID, Config: *cfg}
	row.Config.CreateIndex = idx
	if raw != nil {
		old := raw.(*autopilotRow)
		if cas && old.Config.ModifyIndex != cfg.ModifyIndex {
			return false, nil
		}
		row.Config.CreateIndex = old.Config.CreateIndex
	} else if cas && cfg.ModifyIndex != 0 {
		return false, nil
	}
	row.Config.ModifyIndex = idx
	if err := txn.Insert(tableAutopilot, row); err != nil {
		return false, err
	}
	if err := bump(txn, idx, tableAutopilot); err != nil {
		return false, err
	}
	txn.Commit()
	return true, nil
}

// AutopilotConfig returns the stored autopilot configuration, nil when
// none is stored yet. ws (may be nil) is woken when it changes.
func (s *Store) AutopilotConfig(ws memdb.WatchSet) (uint64, *structs.AutopilotConfig, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := indexWatch(txn, ws, tableAutopilot)
	ch, raw, err := txn.FirstWatch(tableAutopilot, "id", autopilotRowID)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	cfg := raw.(*autopilotRow).Config
	return idx, &cfg, nil
}
