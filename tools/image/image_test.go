package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

func testSpec() Spec {
	return Spec{Version: "v9.8.7-test", Revision: "0123456789abcdef0123456789abcdef01234567", Source: "https://github.com/secretshift/secretshift",
		Created: time.Unix(1767225600, 0).UTC(), CACerts: []byte("-----BEGIN CERTIFICATE-----\n")}
}

// fakeBinary writes an ELF-looking file that stands in for a platform's binary.
func fakeBinary(t *testing.T, p v1.Platform) Binary {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secretshift")
	if err := os.WriteFile(path, []byte("\x7fELF fake secretshift for "+p.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	return Binary{Platform: p, Path: path}
}

type layerFile struct {
	hdr  *tar.Header
	body []byte
}

// layerFiles reads the image's only layer.
func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = layerFile{h, body}
	}
	return files
}

// imageFor returns the index's image of platform p.
func imageFor(t *testing.T, idx v1.ImageIndex, p v1.Platform) v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.Equals(p) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no image for %s in the index", p)
	return nil
}

// checkImage checks what every platform's image must be: the entrypoint, a non-root user
// that passwd knows, its home as working folder, the labels, and the binary in the layer.
func checkImage(t *testing.T, img v1.Image, p v1.Platform, exe []byte) {
	t.Helper()
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if cfg.OS != p.OS || cfg.Architecture != p.Architecture {
		t.Errorf("config platform %s/%s, want %s", cfg.OS, cfg.Architecture, p)
	}
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/secretshift" || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q, cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" || strings.HasPrefix(c.User, "0") || c.User == "root" {
		t.Errorf("user %q: want the non-root 65532:65532", c.User)
	}
	if c.WorkingDir != "/home/nonroot" {
		t.Errorf("working dir %q", c.WorkingDir)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/secretshift/secretshift",
		"org.opencontainers.image.version":  "v9.8.7-test",
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
	} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if !cfg.Created.Time.Equal(time.Unix(1767225600, 0)) {
		t.Errorf("created %s", cfg.Created)
	}
	files := layerFiles(t, img)
	bin, ok := files["usr/local/bin/secretshift"]
	if !ok {
		t.Fatalf("no binary in the layer: %v", keys(files))
	}
	if bin.hdr.Mode != 0o755 || bin.hdr.Uid != 0 || !bytes.Equal(bin.body, exe) {
		t.Errorf("binary: mode %o, uid %d, %d bytes (want %d)", bin.hdr.Mode, bin.hdr.Uid, len(bin.body), len(exe))
	}
	if !strings.Contains(string(files["etc/passwd"].body), "nonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("passwd:\n%s", files["etc/passwd"].body)
	}
	if h := files["home/nonroot/"].hdr; h == nil || h.Uid != 65532 || h.Typeflag != tar.TypeDir {
		t.Errorf("home: %+v", h)
	}
	if h := files["tmp/"].hdr; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	if string(files["etc/ssl/certs/ca-certificates.crt"].body) != "-----BEGIN CERTIFICATE-----\n" {
		t.Errorf("no CA bundle")
	}
	for name, f := range files {
		if !f.hdr.ModTime.Equal(time.Unix(1767225600, 0)) {
			t.Errorf("%s: time %s", name, f.hdr.ModTime)
		}
	}
}

func keys(m map[string]layerFile) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestIndexOfTwoPlatforms builds the index from stand-in binaries and checks both images,
// the OCI layout and the docker tarballs written from it, and that the same input gives the
// same digest.
func TestIndexOfTwoPlatforms(t *testing.T) {
	spec := testSpec()
	bins := []Binary{fakeBinary(t, amd64), fakeBinary(t, arm64)}
	idx, err := Index(spec, bins)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s", mt)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 || m.Annotations["org.opencontainers.image.version"] != "v9.8.7-test" {
		t.Fatalf("index: %+v", m)
	}
	for _, b := range bins {
		exe, _ := os.ReadFile(b.Path)
		checkImage(t, imageFor(t, idx, b.Platform), b.Platform, exe)
	}

	again, err := Index(spec, bins)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("the same input gave two index digests: %s, %s", d1, d2)
	}

	out := t.TempDir()
	if err := run([]string{"-binary", "linux/amd64=" + bins[0].Path, "-binary", "linux/arm64=" + bins[1].Path,
		"-version", spec.Version, "-revision", spec.Revision, "-created", "1767225600", "-ca-certs", writeCA(t),
		"-oci", filepath.Join(out, "oci"), "-docker-dir", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.ImageIndexFromPath(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.IndexManifest()
	if err != nil || len(top.Manifests) != 1 || top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != spec.Version {
		t.Fatalf("layout index.json: %+v, %v", top, err)
	}
	if top.Manifests[0].Digest != d1 {
		t.Errorf("the layout holds index %s, want %s", top.Manifests[0].Digest, d1)
	}
	for _, p := range []v1.Platform{amd64, arm64} {
		tag, _ := name.NewTag("secretshift:v9.8.7-test")
		img, err := tarball.ImageFromPath(filepath.Join(out, "secretshift-"+platformFile(p)+".tar"), &tag)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := imageFor(t, idx, p).ConfigName()
		if got, _ := img.ConfigName(); got != want {
			t.Errorf("%s: the docker tarball's config %s, want %s", p, got, want)
		}
	}

	// A binary that is not a Linux executable is refused.
	notELF := filepath.Join(t.TempDir(), "secretshift.exe")
	if err := os.WriteFile(notELF, []byte("MZ"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Index(spec, []Binary{{Platform: amd64, Path: notELF}}); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("a non-ELF binary: %v", err)
	}
	if _, err := Index(spec, []Binary{bins[0], bins[0]}); err == nil {
		t.Error("two binaries for one platform were taken")
	}
}

func writeCA(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, testSpec().CACerts, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImageRunsVersion builds the real secretshift as make image does (static, -trimpath,
// version and commit set with -ldflags), puts it in the image for this machine's
// architecture, reads it back out of the OCI layout and runs its version command.
func TestImageRunsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds secretshift: not with -short")
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skipf("the image's binary runs on linux/amd64 or linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	spec := testSpec()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "secretshift")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+spec.Version+" -X main.commit="+spec.Revision, "-o", exe, "./cmd/secretshift")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built secretshift in %s", time.Since(start).Round(time.Second))

	host := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	other := arm64
	if host.Equals(arm64) {
		other = amd64
	}
	out := filepath.Join(t.TempDir(), "oci")
	if err := run([]string{"-binary", host.String() + "=" + exe, "-binary", other.String() + "=" + fakeBinary(t, other).Path,
		"-version", spec.Version, "-revision", spec.Revision, "-created", "1767225600", "-ca-certs", writeCA(t), "-oci", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	img := imageFor(t, idx, host)
	want, _ := os.ReadFile(exe)
	checkImage(t, img, host, want)
	if size, err := compressedSize(img); err == nil {
		t.Logf("image for %s: %.1f MB compressed, binary %.1f MB", host, float64(size)/1e6, float64(len(want))/1e6)
	}

	// Run the binary as it comes out of the layer.
	extracted := filepath.Join(t.TempDir(), "secretshift")
	if err := os.WriteFile(extracted, layerFiles(t, img)["usr/local/bin/secretshift"].body, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("secretshift version: %v\n%s", err, got)
	}
	if !strings.HasPrefix(string(got), "secretshift v9.8.7-test (commit 0123456789abcdef0123456789abcdef01234567, go1.") ||
		!strings.Contains(string(got), "linux/"+runtime.GOARCH) {
		t.Errorf("secretshift version printed %q", got)
	}
}
