package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestActorStores(t *testing.T) {
	var a Actor
	a.SetStore("vault", StoreIdentity{StoreDisplayName: "approle-ci", "accessor": "", "entity_id": "e-1"})
	a.SetStore("azurekv", StoreIdentity{"object_id": ""})
	if want := map[string]StoreIdentity{"vault": {StoreDisplayName: "approle-ci", "entity_id": "e-1"}}; !maps.EqualFunc(a.Stores, want, maps.Equal) {
		t.Errorf("SetStore left %v, want %v: empty values and identities are left out", a.Stores, want)
	}
	if a.IsZero() {
		t.Error("an actor with a store identity is not zero")
	}
	if got := actorName(&a); got != "approle-ci" {
		t.Errorf("actorName = %q, want the store's display name", got)
	}
	a.KubeUser = "system:admin"
	if got := actorName(&a); got != "system:admin" {
		t.Errorf("actorName = %q, want the Kubernetes user before a store identity", got)
	}
}

// TestActorOfFormat1 reads the Vault identity of a format 1 record into Stores.
func TestActorOfFormat1(t *testing.T) {
	var a Actor
	if err := json.Unmarshal([]byte(`{"os_user":"ops","vault_display_name":"token-ci","vault_accessor":"acc-1"}`), &a); err != nil {
		t.Fatal(err)
	}
	want := map[string]StoreIdentity{"vault": {StoreDisplayName: "token-ci", "accessor": "acc-1"}}
	if a.OSUser != "ops" || !maps.EqualFunc(a.Stores, want, maps.Equal) {
		t.Errorf("format 1 actor read as %+v, want Stores %v", a, want)
	}
	// Format 2 writes it as stores.
	b := appendActor(nil, &a)
	if !bytes.Equal(b, []byte(`{"os_user":"ops","stores":{"vault":{"accessor":"acc-1","display_name":"token-ci"}}}`)) {
		t.Errorf("format 2 actor = %s", b)
	}
}

func TestOpenRefusesInvalidStoreIdentities(t *testing.T) {
	const secret = "CANARY-hvs-token-material"
	tests := []struct {
		name   string
		stores map[string]StoreIdentity
	}{
		{"kind not lowercase", map[string]StoreIdentity{"Vault": {"accessor": "a"}}},
		{"kind with a dot", map[string]StoreIdentity{"vault.prod": {"accessor": "a"}}},
		{"attribute name with a dash", map[string]StoreIdentity{"vault": {"display-name": "a"}}},
		{"attribute name with a value in it", map[string]StoreIdentity{"vault": {secret: "a"}}},
		{"empty value", map[string]StoreIdentity{"vault": {"accessor": ""}}},
		{"no attributes", map[string]StoreIdentity{"vault": {}}},
		{"PEM block", map[string]StoreIdentity{"vault": {"cert": "-----BEGIN CERTIFICATE-----" + secret}}},
		{"over-long value", map[string]StoreIdentity{"vault": {"accessor": strings.Repeat(secret, 100)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			opts := testOptions(t, "run-bad-actor")
			opts.Actor.Stores = tt.stores
			_, err := Open(path, opts)
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("Open = %v, want ErrInvalidEvent", err)
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("the error quotes a value: %v", err)
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("Open created the log before refusing the actor")
			}
		})
	}
}
