package sweep

import "strconv"

// idSet is the set of WABA ids one sweep has seen listed, kept so that the
// ledger walk at the end can tell which assigned WABAs Graph no longer
// lists. It is the only part of a sweep that grows with the number listed:
// Meta's ids (15-17 digits) are kept as uint64 keys, 24-30 bytes an id in a
// Go map, instead of string keys (a 16-byte header and the id's own bytes
// besides the map's overhead: 51-60 bytes; BenchmarkIDSet). An id that does not round-trip through a
// uint64 (over 2^64-1, or a leading zero) falls back to a string set.
type idSet struct {
	nums map[uint64]struct{}
	strs map[string]struct{}
}

func newIDSet() *idSet { return &idSet{nums: make(map[uint64]struct{})} }

// add adds id; it reports false when id was already in the set.
func (s *idSet) add(id string) bool {
	if n, ok := numericID(id); ok {
		if _, dup := s.nums[n]; dup {
			return false
		}
		s.nums[n] = struct{}{}
		return true
	}
	if s.strs == nil {
		s.strs = make(map[string]struct{})
	}
	if _, dup := s.strs[id]; dup {
		return false
	}
	s.strs[id] = struct{}{}
	return true
}

func (s *idSet) has(id string) bool {
	if n, ok := numericID(id); ok {
		_, in := s.nums[n]
		return in
	}
	_, in := s.strs[id]
	return in
}

func (s *idSet) len() int { return len(s.nums) + len(s.strs) }

// numericID parses id as a uint64 when that is exact: digits only, no
// leading zero (so "0123" and "123" stay different), and within range.
func numericID(id string) (uint64, bool) {
	if id == "" || len(id) > 20 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}
