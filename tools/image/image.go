package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and whom it runs as: distroless's "nonroot" user, so that
// a Pod's runAsNonRoot holds and a mounted kubeconfig or key owned by 65532 is readable.
const (
	BinaryPath = "/usr/local/bin/secretshift"
	CACertPath = "/etc/ssl/certs/ca-certificates.crt"
	Home       = "/home/nonroot"
	UID        = 65532
	User       = "65532:65532"
)

// Spec is what goes into the image besides the binary.
type Spec struct {
	// Version and Revision are the release (vX.Y.Z) and the commit it was built from.
	Version, Revision string
	// Source is the repository's URL.
	Source string
	// Created is the time of every file and of the image: the commit's time makes a rebuild
	// of the same commit the same image, digest for digest.
	Created time.Time
	// CACerts, when not empty, is the CA bundle the binary trusts (Go reads CACertPath on
	// Linux): Vault and Key Vault are reached over TLS.
	CACerts []byte
}

// Binary is one platform's secretshift executable.
type Binary struct {
	Platform v1.Platform
	Path     string
}

// Labels are the OCI annotations of the image, set as config labels and as annotations of
// the index and manifests alike.
func (s Spec) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "secretshift",
		"org.opencontainers.image.source":   s.Source,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
	}
}

// Index builds one image per binary and gathers them in an OCI image index.
func Index(spec Spec, bins []Binary) (v1.ImageIndex, error) {
	if len(bins) == 0 {
		return nil, fmt.Errorf("no binary to put in the image")
	}
	var adds []mutate.IndexAddendum
	seen := map[string]bool{}
	for _, b := range bins {
		p := b.Platform.String()
		if seen[p] {
			return nil, fmt.Errorf("two binaries for %s", p)
		}
		seen[p] = true
		img, err := Image(spec, b)
		if err != nil {
			return nil, err
		}
		platform := b.Platform
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platform}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return mutate.Annotations(idx, spec.Labels()).(v1.ImageIndex), nil
}

// Image is the image of one platform: no base image, one layer.
func Image(spec Spec, b Binary) (v1.Image, error) {
	exe, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, fmt.Errorf("read the %s binary: %w", b.Platform, err)
	}
	if !isELF(exe) {
		return nil, fmt.Errorf("%s: not an ELF executable, as a Linux image needs", b.Path)
	}
	files, err := layerTar(spec, exe)
	if err != nil {
		return nil, err
	}
	layer, err := gzipLayer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: spec.Created}, CreatedBy: "secretshift tools/image", Comment: "secretshift " + spec.Version},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg.OS, cfg.Architecture, cfg.Variant = b.Platform.OS, b.Platform.Architecture, b.Platform.Variant
	cfg.Created = v1.Time{Time: spec.Created}
	cfg.Author = "secretshift"
	cfg.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       User,
		WorkingDir: Home,
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + Home},
		Labels:     spec.Labels(),
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.Annotations(img, spec.Labels()).(v1.Image), nil
}

// gzipLayer compresses the layer once, at the best level: the binary is most of the image.
func gzipLayer(uncompressed []byte) (v1.Layer, error) {
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(uncompressed); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	compressed := z.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// layerTar is the one layer: the binary, a passwd and group file naming the user it runs as,
// that user's home (the working folder, where secretshift keeps .secretshift/), a /tmp, and
// the CA bundle when there is one. Entries are in a fixed order with fixed times and owners.
func layerTar(spec Spec, exe []byte) ([]byte, error) {
	type entry struct {
		name     string
		mode     int64
		uid      int
		body     []byte
		isDir    bool
		username string
	}
	dir := func(name string, mode int64, uid int) entry {
		return entry{name: name, mode: mode, uid: uid, isDir: true}
	}
	file := func(name string, mode int64, body []byte) entry {
		return entry{name: name, mode: mode, body: body}
	}
	entries := []entry{
		dir("etc/", 0o755, 0),
		file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:"+Home+":/sbin/nologin\n")),
	}
	if len(spec.CACerts) > 0 {
		entries = append(entries, dir("etc/ssl/", 0o755, 0), dir("etc/ssl/certs/", 0o755, 0),
			file(strings.TrimPrefix(CACertPath, "/"), 0o644, spec.CACerts))
	}
	entries = append(entries,
		dir("home/", 0o755, 0),
		dir(strings.TrimPrefix(Home, "/")+"/", 0o700, UID),
		dir("tmp/", 0o1777, 0),
		dir("usr/", 0o755, 0), dir("usr/local/", 0o755, 0), dir("usr/local/bin/", 0o755, 0),
		file(strings.TrimPrefix(BinaryPath, "/"), 0o755, exe),
	)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: spec.Created, Format: tar.FormatPAX}
		if e.uid == UID {
			h.Uname, h.Gname = "nonroot", "nonroot"
		} else {
			h.Uname, h.Gname = "root", "root"
		}
		if e.isDir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func isELF(b []byte) bool { return len(b) > 4 && string(b[:4]) == "\x7fELF" }

// WriteLayout writes idx as an OCI image layout in dir (replacing what was there), under the
// reference name ref (index.json's org.opencontainers.image.ref.name), as skopeo, crane,
// podman and containerd's import read it.
func WriteLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		return fmt.Errorf("write OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteDockerTar writes one platform's image as a tarball docker load reads, tagged
// repository:tag.
func WriteDockerTar(file, repository, tag string, img v1.Image) error {
	t, err := name.NewTag(repository + ":" + dockerTag(tag))
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(file, t, img); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// dockerTag makes a version a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}): git describe's
// v1.2.3-4-gabcdef-dirty already is; a "+build" suffix is not.
func dockerTag(v string) string {
	b := []byte(v)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || i > 0 && (c == '.' || c == '-')) {
			b[i] = '-'
		}
	}
	if len(b) > 128 {
		b = b[:128]
	}
	if len(b) == 0 {
		return "latest"
	}
	return string(b)
}

// platformFile is the file name part for a platform: linux-amd64, linux-arm-v7.
func platformFile(p v1.Platform) string {
	return strings.ReplaceAll(path.Clean(p.String()), "/", "-")
}
