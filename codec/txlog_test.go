package codec

import (
	"testing"
)

func TestTransactionLogLookups(t *testing.T) {
	l := fixtureTransactionLog()
	checks := []struct {
		name string
		f    func(NodeID) bool
		yes  NodeID
	}{
		{"new group", l.HasNewGroup, fxGroupID},
		{"new array", l.HasNewArray, fxArrayID},
		{"deleted group", l.HasDeletedGroup, NodeID(fixedObjectID(0xA0))},
		{"deleted array", l.HasDeletedArray, NodeID(fixedObjectID(0xB0))},
		{"updated group", l.HasUpdatedGroup, fxRootID},
		{"updated array", l.HasUpdatedArray, NodeID(fixedObjectID(0xC0))},
	}
	for _, c := range checks {
		if !c.f(c.yes) {
			t.Errorf("%s: %v not found", c.name, c.yes)
		}
		if c.f(NodeID(fixedObjectID(0xEE))) {
			t.Errorf("%s: unknown id found", c.name)
		}
	}
	if !l.HasChunk(fxArrayID, []uint32{0, 0, 1}) || l.HasChunk(fxArrayID, []uint32{0, 1, 1}) || l.HasChunk(fxGroupID, []uint32{0, 0, 1}) {
		t.Error("HasChunk wrong")
	}
	if c, ok := l.Chunks(fxArrayID); !ok || len(c.Coords) != 3 {
		t.Errorf("Chunks = %v, %v", c, ok)
	}
	if l.IsEmpty() || !(&TransactionLog{ID: fxSnapshotID}).IsEmpty() {
		t.Error("IsEmpty wrong")
	}
}

func TestTransactionLogSortAndValidate(t *testing.T) {
	l := fixtureTransactionLog()
	l.NewGroups = append(l.NewGroups, NodeChange{ID: NodeID(fixedObjectID(0x01)), Path: "/first"})
	l.UpdatedChunks[0].Coords[0], l.UpdatedChunks[0].Coords[2] = l.UpdatedChunks[0].Coords[2], l.UpdatedChunks[0].Coords[0]
	if err := l.Validate(); err == nil {
		t.Fatal("unsorted log validated")
	}
	l.Sort()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.NewGroups[0].Path != "/first" || !l.HasNewGroup(NodeID(fixedObjectID(0x01))) {
		t.Fatal("Sort did not order new groups by id")
	}

	cases := map[string]func(l *TransactionLog){
		"zero id":         func(l *TransactionLog) { l.ID = SnapshotID{} },
		"zero node":       func(l *TransactionLog) { l.DeletedArrays[0].ID = NodeID{} },
		"bad path":        func(l *TransactionLog) { l.UpdatedArrays[0].Path = "b" },
		"duplicate node":  func(l *TransactionLog) { l.NewArrays = append(l.NewArrays, l.NewArrays[0]) },
		"duplicate chunk": func(l *TransactionLog) { l.UpdatedChunks[0].Coords[1] = l.UpdatedChunks[0].Coords[0] },
		"unsorted arrays": func(l *TransactionLog) {
			l.UpdatedChunks[0], l.UpdatedChunks[1] = l.UpdatedChunks[1], l.UpdatedChunks[0]
		},
		"chunk path":    func(l *TransactionLog) { l.UpdatedChunks[0].Path = "" },
		"chunk zero id": func(l *TransactionLog) { l.UpdatedChunks[1].ID = NodeID{} },
	}
	for name, breakIt := range cases {
		l := fixtureTransactionLog()
		breakIt(l)
		if err := l.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
}
