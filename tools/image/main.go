// Command image builds secretshift's container image without a Docker daemon (make image):
// for each platform one layer with the static binary at /usr/local/bin/secretshift, a passwd
// entry for the non-root user 65532 it runs as, its home as the working folder, and the
// build machine's CA bundle; the images are gathered in an OCI image index.
//
//	go run . -binary linux/amd64=PATH -binary linux/arm64=PATH -version v1.2.3 -revision SHA \
//	    -created UNIX-SECONDS -oci ../../dist/image/oci -docker-dir ../../dist/image
//
// It writes an OCI image layout (-oci: skopeo copy oci:DIR docker://..., crane push, podman
// load) and, with -docker-dir, one tarball per platform that docker load reads.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

// binaryFlags collects -binary os/arch[/variant]=path.
type binaryFlags []Binary

func (b *binaryFlags) String() string { return fmt.Sprint(*b) }

func (b *binaryFlags) Set(v string) error {
	platform, path, ok := strings.Cut(v, "=")
	if !ok || path == "" {
		return errors.New("want os/arch=path, such as linux/amd64=dist/linux_amd64/secretshift")
	}
	p, err := v1.ParsePlatform(platform)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return fmt.Errorf("platform %q: want os/arch[/variant]", platform)
	}
	*b = append(*b, Binary{Platform: *p, Path: path})
	return nil
}

func run(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("image", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var bins binaryFlags
	fl.Var(&bins, "binary", "os/arch=path of a static Linux binary (repeatable, one per platform)")
	var spec Spec
	fl.StringVar(&spec.Version, "version", "", "the release, as main.version (required)")
	fl.StringVar(&spec.Revision, "revision", "", "the commit, as main.commit (required)")
	fl.StringVar(&spec.Source, "source", "https://github.com/secretshift/secretshift", "the repository, for org.opencontainers.image.source")
	created := fl.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "time of the files and the image, in Unix seconds (the commit's time; default $SOURCE_DATE_EPOCH, else 0)")
	caFile := fl.String("ca-certs", CACertPath, "CA bundle to copy into the image at "+CACertPath+` ("" for none; a missing default is left out with a note)`)
	ociDir := fl.String("oci", "", "write the OCI image layout (all platforms) into this folder")
	dockerDir := fl.String("docker-dir", "", "write secretshift-OS-ARCH.tar, one per platform, for docker load, into this folder")
	repository := fl.String("repository", "secretshift", "repository the docker tarballs are tagged in (the tag is the version)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 || len(bins) == 0 || spec.Version == "" || spec.Revision == "" || *ociDir == "" && *dockerDir == "" {
		fl.Usage()
		return errors.New("name at least one -binary, -version, -revision and -oci or -docker-dir")
	}
	secs := int64(0)
	if *created != "" {
		var err error
		if secs, err = strconv.ParseInt(*created, 10, 64); err != nil {
			return fmt.Errorf("-created %q: want Unix seconds", *created)
		}
	}
	spec.Created = time.Unix(secs, 0).UTC()
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && *caFile == CACertPath:
			fmt.Fprintf(stderr, "image: no CA bundle at %s on this machine: the image trusts no CA (set SSL_CERT_FILE in the container, or -ca-certs)\n", *caFile)
		case err != nil:
			return fmt.Errorf("-ca-certs: %w", err)
		default:
			spec.CACerts = b
		}
	}

	start := time.Now()
	idx, err := Index(spec, bins)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	if *ociDir != "" {
		if err := WriteLayout(*ociDir, idx, spec.Version); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "image: wrote %s (index %s)\n", *ociDir, digest)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range manifest.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		size, err := compressedSize(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "image: %s %s, %.1f MB compressed\n", d.Platform, d.Digest, float64(size)/1e6)
		if *dockerDir != "" {
			if err := os.MkdirAll(*dockerDir, 0o755); err != nil {
				return err
			}
			file := filepath.Join(*dockerDir, "secretshift-"+platformFile(*d.Platform)+".tar")
			if err := WriteDockerTar(file, *repository, spec.Version, img); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "image: wrote %s (docker load -i %s)\n", file, file)
		}
	}
	fmt.Fprintf(stderr, "image: done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// compressedSize is what a registry stores for the image: its layers, as compressed.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += s
	}
	return n, nil
}
