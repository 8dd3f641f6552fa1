package pipeline

import (
	"log/slog"
	"sync"

	"github.com/pomocore/pomocore"
)

// maxUnknownNames bounds the unknown field names warned about one by one
// (a hostile producer could send a new name with every entry).
const maxUnknownNames = 64

// unknownFields notes the entries that carry fields the CONTRACT does not
// name, warning once per field name (up to maxUnknownNames). Safe for
// concurrent use.
type unknownFields struct {
	log      *slog.Logger
	rejected bool // Limits.RejectUnknownFields: such entries are dead letters

	mu   sync.Mutex
	seen map[string]bool // the names warned about
}

// note reports whether m has fields the CONTRACT does not name, and warns
// once per such field name.
func (u *unknownFields) note(m *Message) bool {
	found := false
	for i := 0; i+1 < len(m.Fields); i += 2 {
		name := m.Fields[i]
		if pomocore.IsField(name) {
			continue
		}
		found = true
		u.mu.Lock()
		warn := !u.seen[name] && len(u.seen) < maxUnknownNames
		if warn {
			u.seen[name] = true
		}
		u.mu.Unlock()
		if warn {
			u.log.Warn("input entries carry a field the contract does not name; accepted and ignored (warned once per name)",
				"field", pomocore.SanitizeText(name, 64), "entry", m.ID, "rejected", u.rejected)
		}
	}
	return found
}
