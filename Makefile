# secretshift — build, test and benchmark. `make test` is the whole suite (CI runs exactly it).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
TOOLS_BIN := $(CURDIR)/.tools/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0

# The Go release the project is built and tested with (fixes for standard-library advisories
# land in patch releases); the go command fetches it from the module proxy when needed.
export GOTOOLCHAIN ?= go1.26.10
export SECRETSHIFT_TOOLS_BIN := $(TOOLS_BIN)
# The vulnerability database, built from the golang.org/x/vulndb module (see tools/vulndb).
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
# What ships: every package but the test servers, benchmarks, the reliability suite and build tools.
PRODUCT_PKGS = $(shell $(GO) list ./... | grep -v -e /internal/testenv -e /internal/cmd/ -e /bench/ -e /tools/ -e /reliability)

.PHONY: reliability all build image test-image release-check release-snapshot test test-short lint vulncheck-all bench tools tools-apt demo clean

all: build

## build: the secretshift binary in bin/
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/secretshift ./cmd/secretshift

## image: the container image for IMAGE_PLATFORMS, built without a Docker daemon (tools/image):
## an OCI layout (an index of both platforms) in dist/image/oci, and a tarball per platform
## for docker load, dist/image/secretshift-linux-ARCH.tar; the commit's time dates the files
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	rm -rf dist/image
	set -e; for p in $(IMAGE_PLATFORMS); do \
		echo "image: building secretshift for $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o dist/image/$${p%/*}_$${p#*/}/secretshift ./cmd/secretshift; \
	done
	cd tools/image && $(GO) run . $(foreach p,$(IMAGE_PLATFORMS),-binary $(p)=$(CURDIR)/dist/image/$(subst /,_,$(p))/secretshift) \
		-version $(VERSION) -revision $(COMMIT) -created $(SOURCE_DATE_EPOCH) -oci $(CURDIR)/dist/image/oci -docker-dir $(CURDIR)/dist/image

## test-image: the image builder's tests alone (its own module; one builds secretshift and runs it out of the image; part of test)
test-image:
	set -o pipefail; cd tools/image && $(GO) test -count=1 -timeout 30m -v ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'

## release-check: build goreleaser, cyclonedx-gomod and krew's validate-krew-manifest into
## .tools/bin (large builds, not part of tools), then check .goreleaser.yaml and the krew manifest
release-check:
	tools/build.sh goreleaser cyclonedx-gomod validate-krew-manifest
	$(TOOLS_BIN)/goreleaser check
	$(TOOLS_BIN)/validate-krew-manifest -manifest deploy/krew/secretshift.yaml -skip-install

## release-snapshot: what a release would publish, from this commit, in dist/ (six full builds;
## nothing is published): archives, checksums.txt, SBOMs and dist/krew/secretshift.yaml, checked
release-snapshot: release-check
	PATH="$(TOOLS_BIN):$$PATH" $(TOOLS_BIN)/goreleaser release --snapshot --clean --skip=publish
	$(TOOLS_BIN)/validate-krew-manifest -manifest dist/krew/secretshift.yaml -skip-install

## tools: the real servers and binaries the tests use, into .tools/bin (skips what is built)
tools: tools-apt
	tools/build.sh

## tools-apt: etcd from Debian (kube-apiserver's storage); needs root, skipped when present
tools-apt:
	@command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; }

## test: every test, unit and integration, against the real servers (builds them first if needed)
# Verbose, so the log shows every test that ran or skipped (integration tests never skip
# silently); only the RUN/PAUSE/CONT chatter is dropped.
test: tools
	set -o pipefail; $(GO) test -count=1 -timeout 30m -v ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	set -o pipefail; $(GO) test -count=1 -race -timeout 20m -v ./audit/... ./migrate/... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	set -o pipefail; cd tools/image && $(GO) test -count=1 -timeout 20m -v ./... 2>&1 | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	@echo "test: every package passed"

## test-short: unit tests only; integration tests skip when the servers are not built
test-short:
	$(GO) test -short -count=1 ./...

## lint: vet, staticcheck, gofmt, go mod tidy check, and govulncheck on what ships
lint: .tools/vulndb/index/db.json
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) run $(GOVULNCHECK) -db file://$(CURDIR)/.tools/vulndb $(PRODUCT_PKGS)

## vulncheck-all: govulncheck over every package, test servers included (informational)
vulncheck-all: .tools/vulndb/index/db.json
	$(GO) run $(GOVULNCHECK) -db file://$(CURDIR)/.tools/vulndb ./...

.tools/vulndb/index/db.json:
	$(GO) run ./tools/vulndb -version $(VULNDB_VERSION) -out .tools/vulndb

## reliability: the reliability suite (reliability/), not part of test: every fuzz target for
## FUZZTIME each (default 2m; test runs only their seeds), then the full audit-log tamper matrix
## (test runs a reduced one); writes reliability-report.md and reliability-report.json here
FUZZTIME ?= 2m
FUZZPARALLEL ?= 1
reliability:
	FUZZTIME=$(FUZZTIME) FUZZPARALLEL=$(FUZZPARALLEL) $(GO) run ./reliability/cmd/reliability -out $(CURDIR)

## bench: benchmarks side by side with what users run otherwise (numbers printed as ratios)
bench: tools
	@command -v jq >/dev/null && command -v curl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq curl; }
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 60m ./bench/...
	$(GO) run ./bench/sops
	$(GO) run ./bench/fleet

## demo: the quick start — migrate the bundled example Secrets to SOPS files with a generated age key
demo:
	$(GO) run ./cmd/secretshift migrate --to sops -f testdata/demo --sops-out demo-out

clean:
	rm -rf bin demo-out dist .release
