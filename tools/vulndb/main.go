// Command vulndb builds a local copy of the Go vulnerability database for govulncheck's
// -db file:// option, from the OSV entries in the golang.org/x/vulndb module, which the Go module
// proxy serves. It exists because the database's own host is not reachable from every build
// machine, while the module proxy is.
//
//	go run ./tools/vulndb -version v0.0.0-20261105234957-e22db6528018 -out .tools/vulndb
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// osvEntry is the part of an OSV entry the index needs.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

// moduleVuln and moduleMeta are the index/modules.json schema govulncheck reads. Fixed is left
// out: govulncheck then fetches every entry of a module and checks versions itself.
type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	version := flag.String("version", "", "golang.org/x/vulndb module version (pseudo-version) to build from")
	out := flag.String("out", ".tools/vulndb", "output folder")
	flag.Parse()
	if err := run(*version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	if version == "" {
		return errors.New("-version is required")
	}
	dl, err := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+version).Output()
	if err != nil {
		return fmt.Errorf("download golang.org/x/vulndb@%s: %w", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(dl, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("go mod download gave no folder: %v", err)
	}
	src := filepath.Join(mod.Dir, "data", "osv")
	files, err := filepath.Glob(filepath.Join(src, "GO-*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no OSV entries in %s", src)
	}
	tmp := out + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return err
	}
	modules := map[string]*moduleMeta{}
	var newest time.Time
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e osvEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), b, 0o644); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			if modules[p] == nil {
				modules[p] = &moduleMeta{Path: p}
			}
			modules[p].Vulns = append(modules[p].Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}
	list := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	if newest.IsZero() {
		// Entries in the repository carry no modification time; date the database by its version.
		if parts := strings.Split(version, "-"); len(parts) == 3 {
			newest, _ = time.Parse("20060102150405", parts[1])
		}
	}
	if err := writeJSON(filepath.Join(tmp, "index", "modules.json"), list); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(tmp, "index", "db.json"), map[string]time.Time{"modified": newest.UTC()}); err != nil {
		return err
	}
	os.RemoveAll(out)
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vulndb: %d entries for %d modules in %s (as of %s)\n", len(files), len(list), out, newest.Format("2006-01-02"))
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
