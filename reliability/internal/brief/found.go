package brief

// Found is what a check of a store found wrong, by Secret (namespace/name): Lost have nothing
// there, Twice more than one version, Differ other values than the source; Unread could not
// be read (ReadErr is the last error). Store names the store in the report's words.
type Found struct {
	Store                       string
	Lost, Twice, Differ, Unread []string
	ReadErr                     error
}

// Report passes each kind of finding to problem, with counts and up to five names.
func (f Found) Report(problem func(string, ...any)) {
	if len(f.Unread) > 0 {
		problem("%d Secrets could not be read from %s (last error: %v): %s", len(f.Unread), f.Store, f.ReadErr, Names(f.Unread))
	}
	if len(f.Lost) > 0 {
		problem("%d Secrets lost (nothing in %s): %s", len(f.Lost), f.Store, Names(f.Lost))
	}
	if len(f.Twice) > 0 {
		problem("%d Secrets written twice (%s holds more than one version): %s", len(f.Twice), f.Store, Names(f.Twice))
	}
	if len(f.Differ) > 0 {
		problem("%d Secrets differ from the source in %s: %s", len(f.Differ), f.Store, Names(f.Differ))
	}
}
