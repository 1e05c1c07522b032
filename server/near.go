package server

import (
	"sort"
	"time"

	"github.com/hashicorp/serf/coordinate"

	"consulate/catalog"
	"consulate/structs"
)

// sortByDistance orders items by estimated RTT from the source node (the
// ?near= parameter), nearest first; items without a coordinate keep their
// order after the rest. Nothing happens without a source coordinate; the
// result says whether it sorted.
func sortByDistance[T any](st *catalog.Store, src structs.QuerySource, localDC string, items []T, node func(T) string) bool {
	if src.Node == "" || len(items) < 2 || (src.Datacenter != "" && src.Datacenter != localDC) {
		return false
	}
	_, coords, err := st.Coordinates(nil)
	if err != nil || len(coords) == 0 {
		return false
	}
	byNode := make(map[string]*coordinate.Coordinate, len(coords))
	for _, c := range coords {
		byNode[c.Node] = c.Coord
	}
	from := byNode[src.Node]
	if from == nil {
		return false
	}
	const unknown = time.Duration(1<<63 - 1)
	dist := make([]time.Duration, len(items))
	for i, it := range items {
		dist[i] = unknown
		if to := byNode[node(it)]; to != nil && from.IsCompatibleWith(to) {
			dist[i] = from.DistanceTo(to)
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return dist[idx[a]] < dist[idx[b]] })
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
	return true
}
