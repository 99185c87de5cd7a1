package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/migrate"
)

func writePlan(path string, p *migrate.Plan) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	// A plan is reviewed and applied later: never leave half of one.
	return atomicfile.Write(path, append(b, '\n'), 0o600, atomicfile.Options{})
}

func readPlan(path string) (*migrate.Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var p migrate.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse plan %s: %w", path, err)
	}
	if p.APIVersion != migrate.PlanAPIVersion || p.Kind != migrate.PlanKind {
		return nil, fmt.Errorf("%s is not a secretshift plan (apiVersion %q, kind %q)", path, p.APIVersion, p.Kind)
	}
	if len(p.Problems) > 0 {
		return nil, fmt.Errorf("%s is a rejected plan (%d problem(s)); make a new plan", path, len(p.Problems))
	}
	for i, it := range p.Items {
		if it == nil {
			return nil, fmt.Errorf("%s: item %d is empty (null); make a new plan", path, i+1)
		}
	}
	return &p, nil
}

func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
