package server

import (
	"consulate/catalog"
	"consulate/structs"
)

// sortByDistance orders items by estimated RTT from the source node (the
// ?near= parameter), nearest first (structs.SortByDistance, shared with
// client views). Only this datacenter's coordinates are known, so a
// source in another datacenter leaves the order alone; the result says
// whether it sorted.
func sortByDistance[T any](st *catalog.Store, src structs.QuerySource, localDC string, items []T, node func(T) string) bool {
	if src.Node == "" || len(items) < 2 || (src.Datacenter != "" && src.Datacenter != localDC) {
		return false
	}
	_, coords, err := st.Coordinates(nil)
	if err != nil {
		return false
	}
	return structs.SortByDistance(coords, src.Node, items, node)
}
