package catalog

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// AutoEncryptCASet stores ca as the auto-encrypt signing CA unless one is
// stored already (the first leader's CA wins, so that every server signs
// with the same root). It reports whether ca was stored.
func (s *Store) AutoEncryptCASet(idx uint64, ca *structs.AutoEncryptCA) (bool, error) {
	if ca == nil || ca.CertPEM == "" || ca.KeyPEM == "" {
		return false, fmt.Errorf("%w: auto-encrypt CA needs a certificate and a key", ErrInvalidRequest)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	old, err := txn.First(tableAutoEncryptCA, "id", structs.AutoEncryptCAID)
	if err != nil {
		return false, err
	}
	if old != nil {
		return false, nil
	}
	row := *ca
	row.ID = structs.AutoEncryptCAID
	row.CreateIndex, row.ModifyIndex = idx, idx
	if err := txn.Insert(tableAutoEncryptCA, &row); err != nil {
		return false, err
	}
	if err := bump(txn, idx, tableAutoEncryptCA); err != nil {
		return false, err
	}
	txn.Commit()
	return true, nil
}

// AutoEncryptCA returns the auto-encrypt signing CA, or nil when none is
// stored yet. ws (may be nil) is woken when it changes. The result holds
// the CA's private key: only the server's signing endpoint reads it.
func (s *Store) AutoEncryptCA(ws memdb.WatchSet) (uint64, *structs.AutoEncryptCA, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := indexWatch(txn, ws, tableAutoEncryptCA)
	ch, raw, err := txn.FirstWatch(tableAutoEncryptCA, "id", structs.AutoEncryptCAID)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	ca := *raw.(*structs.AutoEncryptCA)
	return idx, &ca, nil
}
