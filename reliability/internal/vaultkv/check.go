package vaultkv

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/secretshift/secretshift/reliability/internal/brief"
)

// Want is one Secret as the store should hold it: at Path below the secret/ mount, with Data.
type Want struct {
	Ref  string
	Path string
	Data map[string][]byte
}

// Found is what Check found wrong, by Secret (namespace/name).
type Found struct {
	// Lost have no entry; Twice are at a version above 1; Differ hold other values; Unread
	// could not be read (ReadErr is the last error).
	Lost, Twice, Differ, Unread []string
	ReadErr                     error
}

// Check reads every wanted entry through Vault's HTTP API: it must exist, hold version 1
// only, and hold Data byte for byte.
func (s *Server) Check(want []Want) Found {
	client := &http.Client{Timeout: 10 * time.Second}
	var f Found
	for _, w := range want {
		e, err := s.Read(client, w.Path)
		switch {
		case errors.Is(err, ErrNotStored):
			f.Lost = append(f.Lost, w.Ref)
			continue
		case err != nil:
			f.Unread, f.ReadErr = append(f.Unread, w.Ref), err
			continue
		}
		if e.CurrentVersion != 1 || e.Versions != 1 {
			f.Twice = append(f.Twice, fmt.Sprintf("%s (current version %d, %d versions)", w.Ref, e.CurrentVersion, e.Versions))
		}
		if !e.SameValues(w.Data) {
			f.Differ = append(f.Differ, w.Ref)
		}
	}
	return f
}

// Report passes each kind of finding to problem, with counts and up to five names.
func (f Found) Report(problem func(string, ...any)) {
	if len(f.Unread) > 0 {
		problem("%d Secrets could not be read from vault (last error: %v): %s", len(f.Unread), f.ReadErr, brief.Names(f.Unread))
	}
	if len(f.Lost) > 0 {
		problem("%d Secrets lost (nothing in vault): %s", len(f.Lost), brief.Names(f.Lost))
	}
	if len(f.Twice) > 0 {
		problem("%d Secrets at a version above 1 (written twice): %s", len(f.Twice), brief.Names(f.Twice))
	}
	if len(f.Differ) > 0 {
		problem("%d Secrets differ from the source in vault: %s", len(f.Differ), brief.Names(f.Differ))
	}
}
