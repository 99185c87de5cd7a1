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
type Found = brief.Found

// Check reads every wanted entry through Vault's HTTP API: it must exist, hold version 1
// only, and hold Data byte for byte.
func (s *Server) Check(want []Want) Found {
	client := &http.Client{Timeout: 10 * time.Second}
	f := Found{Store: "vault"}
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
