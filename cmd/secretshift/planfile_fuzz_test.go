package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/memstore"
	"github.com/secretshift/secretshift/migrate"
)

// planCanary marks text planted in seed plans.
const planCanary = "CANARY-plan-3c7a1"

// FuzzReadPlan reads arbitrary bytes as a saved plan (testdata/fuzz/FuzzReadPlan holds a real
// plan of the quick-start demo). readPlan never panics; an error names the file; an accepted plan is a secretshift plan without problems, and
// writing it and reading it back gives the same plan. CheckSaved then accepts it only when
// every action is one secretshift plans. testdata/fuzz/FuzzReadPlan/crash-items-null is a plan
// whose items list holds a null: it made `secretshift apply` panic in migrate.CheckSaved.
func FuzzReadPlan(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"` + migrate.PlanAPIVersion + `","kind":"` + migrate.PlanKind + `","items":[{"namespace":"ns","name":"n","action":"create","target":{"provider":"mem","address":"ns/n"}}]}`))
	f.Add([]byte(`{"apiVersion":"` + migrate.PlanAPIVersion + `","kind":"` + migrate.PlanKind + `","items":[{"namespace":"ns","name":"` + planCanary + `","action":"delete"}]}`))
	f.Add([]byte(`{"apiVersion":"` + migrate.PlanAPIVersion + `","kind":"` + migrate.PlanKind + `","problems":[{"message":"` + planCanary + `"}]}`))
	f.Add([]byte(`{"apiVersion":"` + planCanary + `","kind":"Plan"}`))
	f.Add([]byte(`{"items":[{"size":"` + planCanary + `"}]}`))
	f.Add([]byte(`{"created":"` + planCanary + `"}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "plan.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := readPlan(path)
		if err != nil {
			if p != nil {
				t.Fatalf("plan and error: %v", err)
			}
			// A plan holds no values (fingerprints only), so an error may quote what it found
			// (encoding/json quotes a malformed time, for one); it must name the file.
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p.APIVersion != migrate.PlanAPIVersion || p.Kind != migrate.PlanKind || len(p.Problems) > 0 {
			t.Fatalf("accepted a plan that is not one: %q %q, %d problems", p.APIVersion, p.Kind, len(p.Problems))
		}
		again := filepath.Join(dir, "again.json")
		if err := writePlan(again, p); err != nil {
			t.Fatalf("write back: %v", err)
		}
		q, err := readPlan(again)
		if err != nil {
			t.Fatalf("a plan written back does not read: %v", err)
		}
		j1, err1 := json.Marshal(p)
		j2, err2 := json.Marshal(q)
		if err1 != nil || err2 != nil || string(j1) != string(j2) {
			t.Fatalf("round trip changed the plan:\n%s\n%s", j1, j2)
		}
		var valid = true
		for _, it := range p.Items {
			if it == nil {
				valid = false
				break
			}
			switch it.Action {
			case migrate.ActionCreate, migrate.ActionUpdate, migrate.ActionUnchanged, migrate.ActionSkip, migrate.ActionConflict:
			default:
				valid = false
			}
		}
		_, err = migrate.CheckSaved(p, nil, memstore.Bucket("fuzz"))
		if valid != (err == nil) {
			t.Fatalf("CheckSaved: actions valid %v, error %v", valid, err)
		}
	})
}
