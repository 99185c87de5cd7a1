package kube

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile writes text to path, creating its folders.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// symlink makes link point at target, creating the link's folder.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks not available: %v", err)
	}
}

// secretYAML is a valid Secret manifest named name.
func secretYAML(name string) string {
	return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + "}\nstringData: {a: b}\n"
}

// secretNames returns the names of the Secrets read, in input order.
func secretNames(inv *Inventory) []string {
	var out []string
	for _, s := range inv.Secrets {
		out = append(out, s.Name)
	}
	return out
}

func TestReadManifestsSymlinks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) []string // returns the paths to read
		want  []string
		err   string // part of the error; "" when none is expected
	}{
		{
			name: "symlinked root folder",
			setup: func(t *testing.T, dir string) []string {
				writeFile(t, filepath.Join(dir, "real/a.yaml"), secretYAML("top"))
				writeFile(t, filepath.Join(dir, "real/sub/b.yaml"), secretYAML("deep"))
				symlink(t, "real", filepath.Join(dir, "link"))
				return []string{filepath.Join(dir, "link")}
			},
			want: []string{"top", "deep"},
		},
		{
			name: "symlinked folder and file inside a walked folder",
			setup: func(t *testing.T, dir string) []string {
				writeFile(t, filepath.Join(dir, "common/shared.yaml"), secretYAML("shared"))
				writeFile(t, filepath.Join(dir, "files/one.yaml"), secretYAML("one"))
				writeFile(t, filepath.Join(dir, "app/own.yaml"), secretYAML("own"))
				symlink(t, "../common", filepath.Join(dir, "app/common"))
				symlink(t, "../files/one.yaml", filepath.Join(dir, "app/linked.yaml"))
				return []string{filepath.Join(dir, "app")}
			},
			want: []string{"shared", "one", "own"},
		},
		{
			name: "a file reached twice through links is read once",
			setup: func(t *testing.T, dir string) []string {
				writeFile(t, filepath.Join(dir, "app/base/a.yaml"), secretYAML("a"))
				symlink(t, "base", filepath.Join(dir, "app/alias"))
				symlink(t, "base/a.yaml", filepath.Join(dir, "app/b.yaml"))
				return []string{filepath.Join(dir, "app"), filepath.Join(dir, "app/base/a.yaml")}
			},
			want: []string{"a"},
		},
		{
			name: "a link back to a folder being walked is a loop",
			setup: func(t *testing.T, dir string) []string {
				writeFile(t, filepath.Join(dir, "app/a.yaml"), secretYAML("a"))
				symlink(t, "..", filepath.Join(dir, "app/sub/up"))
				return []string{filepath.Join(dir, "app")}
			},
			err: "app/sub/up: symlink loop",
		},
		{
			name: "a link to itself is a loop",
			setup: func(t *testing.T, dir string) []string {
				symlink(t, "self", filepath.Join(dir, "app/self"))
				return []string{filepath.Join(dir, "app")}
			},
			err: "app/self: symlink loop",
		},
		{
			name: "a looping root names the path",
			setup: func(t *testing.T, dir string) []string {
				symlink(t, "l2", filepath.Join(dir, "l1"))
				symlink(t, "l1", filepath.Join(dir, "l2"))
				return []string{filepath.Join(dir, "l1")}
			},
			err: "l1",
		},
		{
			name: "a broken link is passed over unless it would be read",
			setup: func(t *testing.T, dir string) []string {
				writeFile(t, filepath.Join(dir, "app/a.yaml"), secretYAML("a"))
				symlink(t, "gone", filepath.Join(dir, "app/notes"))
				return []string{filepath.Join(dir, "app")}
			},
			want: []string{"a"},
		},
		{
			name: "a broken link to a manifest is an error",
			setup: func(t *testing.T, dir string) []string {
				symlink(t, "gone.yaml", filepath.Join(dir, "app/b.yaml"))
				return []string{filepath.Join(dir, "app")}
			},
			err: "app/b.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := tt.setup(t, dir)
			inv, err := ReadManifests(paths, ReadOptions{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(inv.Problems) > 0 {
				t.Errorf("problems: %v", inv.Problems)
			}
			if got := secretNames(inv); !slices.Equal(got, tt.want) {
				t.Errorf("secrets = %v, want %v", got, tt.want)
			}
		})
	}
}

// Files are named as they were reached, through the link, not by their real path.
func TestReadManifestsSymlinkOrigin(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "real/a.yaml"), secretYAML("a"))
	symlink(t, "real", filepath.Join(dir, "link"))
	inv, err := ReadManifests([]string{filepath.Join(dir, "link")}, ReadOptions{})
	if err != nil || len(inv.Secrets) != 1 {
		t.Fatalf("got %v, %v", inv, err)
	}
	if want := filepath.Join(dir, "link", "a.yaml"); inv.Secrets[0].Origin.File != want {
		t.Errorf("origin = %s, want %s", inv.Secrets[0].Origin.File, want)
	}
}

func TestReadManifestsExcludePaths(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "repo/app.yaml"), secretYAML("app"))
	writeFile(t, filepath.Join(dir, "repo/out/shop/db.yaml"), secretYAML("written"))
	writeFile(t, filepath.Join(dir, "repo/out.yaml"), secretYAML("out-file-is-not-out-folder"))
	symlink(t, "repo/out", filepath.Join(dir, "alias"))
	t.Chdir(filepath.Join(dir, "repo"))

	tests := []struct {
		name    string
		paths   []string
		exclude []string
		want    []string
	}{
		{"relative folder", []string{"."}, []string{"out"}, []string{"app", "out-file-is-not-out-folder"}},
		{"absolute folder, relative input", []string{"."}, []string{filepath.Join(dir, "repo/out")}, []string{"app", "out-file-is-not-out-folder"}},
		{"through a link to it", []string{"."}, []string{filepath.Join(dir, "alias")}, []string{"app", "out-file-is-not-out-folder"}},
		{"with a trailing slash and dots", []string{filepath.Join(dir, "repo")}, []string{"./x/../out/"}, []string{"app", "out-file-is-not-out-folder"}},
		{"one file", []string{"."}, []string{"out/shop/db.yaml"}, []string{"app", "out-file-is-not-out-folder"}},
		{"not created yet", []string{"."}, []string{"new-out"}, []string{"app", "written", "out-file-is-not-out-folder"}},
		{"empty is nothing", []string{"."}, []string{""}, []string{"app", "written", "out-file-is-not-out-folder"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := ReadManifests(tt.paths, ReadOptions{ExcludePaths: tt.exclude})
			if err != nil {
				t.Fatal(err)
			}
			if got := secretNames(inv); !slices.Equal(got, tt.want) {
				t.Errorf("secrets = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("a path given for input inside an excluded one is an error", func(t *testing.T) {
		for _, p := range []string{"out", "out/shop/db.yaml", filepath.Join(dir, "alias")} {
			_, err := ReadManifests([]string{p}, ReadOptions{ExcludePaths: []string{"out"}})
			if !errors.Is(err, ErrExcludedPath) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error = %v, want ErrExcludedPath naming the path", p, err)
			}
		}
	})
}
