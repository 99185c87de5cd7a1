#!/usr/bin/env bash
# Builds the binaries the tests run against into .tools/bin, each from its pinned module under
# tools/. A binary is rebuilt only when its module's go.mod/go.sum changed (a stamp file holds
# their hash), so repeated runs cost nothing.
#
#   tools/build.sh [name...]     names: kube-apiserver kube-controller-manager sops kubeseal sealed-secrets-controller external-secrets vault-testserver actionlint
#                                 and, for make release-check only: goreleaser cyclonedx-gomod validate-krew-manifest
#
# kube-apiserver and kube-controller-manager (only its garbage collector runs in tests) come
# from one `go build` of the same pinned module, so the packages they share compile once; the
# name kube-controller-manager builds the pair too.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Test binaries are built with the machine's Go, not the Go release the product pins
# (GOTOOLCHAIN in the Makefile): they need no security patch level of their own, and the
# machine's build cache for them stays warm.
export GOTOOLCHAIN=local
bin="$root/.tools/bin"
mkdir -p "$bin"

# name | module folder (relative to the repo) | package(s), space-separated: more than one builds
# every binary in one go build, each named by its package's last element
specs=(
	"kube-apiserver|tools/apiserver|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager"
	"kube-controller-manager|tools/apiserver|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager"
	"sops|tools/sops|github.com/getsops/sops/v3/cmd/sops"
	"kubeseal|tools/kubeseal|github.com/bitnami/sealed-secrets/cmd/kubeseal"
	"sealed-secrets-controller|tools/kubeseal|github.com/bitnami/sealed-secrets/cmd/controller"
	"external-secrets|tools/eso|github.com/external-secrets/external-secrets"
	"vault-testserver|.|./internal/cmd/vault-testserver"
	"actionlint|tools/actionlint|github.com/rhysd/actionlint/cmd/actionlint"
	"goreleaser|tools/goreleaser|github.com/goreleaser/goreleaser/v2"
	"cyclonedx-gomod|tools/cyclonedx|github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
	"validate-krew-manifest|tools/krew|sigs.k8s.io/krew/cmd/validate-krew-manifest"
)

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver sops kubeseal sealed-secrets-controller external-secrets vault-testserver actionlint)

build() {
	local name=$1 dir=$2 pkg=$3
	# A group of packages shares the stamp of its first binary and is up to date only when every
	# binary of the group is there.
	local bins=() p
	for p in $pkg; do bins+=("${p##*/}"); done
	if [ ${#bins[@]} = 1 ]; then
		bins=("$name") # one package: the binary is named as its spec says
	else
		name=${bins[0]}
	fi
	local stamp="$bin/.$name.stamp" sum
	if [ "$dir" = "." ]; then
		# Our own code: let go build's cache decide; it is quick when nothing changed.
		sum=""
	else
		sum=$(cat "$root/$dir/go.mod" "$root/$dir/go.sum" | sha256sum | cut -d' ' -f1)
		local have=1 b
		for b in "${bins[@]}"; do [ -x "$bin/$b" ] || have=0; done
		if [ $have = 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
			echo "tools: ${bins[*]} up to date"
			return
		fi
	fi
	echo "tools: building $name ($pkg)"
	local start=$SECONDS
	local ldflags=""
	if [ "$name" = kube-apiserver ]; then
		# Without this the binary reports v0.0.0-master and kubectl warns about version skew.
		local v
		v=$(cd "$root/$dir" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
		ldflags="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$v" | cut -d. -f2)"
	fi
	if [ ${#bins[@]} = 1 ]; then
		(cd "$root/$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg")
		mv "$bin/$name.tmp" "$bin/$name"
	else
		local tmp="$bin/.$name.tmp.d"
		rm -rf "$tmp" && mkdir -p "$tmp"
		# shellcheck disable=SC2086 # $pkg is a space-separated list of packages
		(cd "$root/$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" -o "$tmp/" $pkg)
		for b in "${bins[@]}"; do mv "$tmp/$b" "$bin/$b"; done
		rmdir "$tmp"
	fi
	if [ "$name" = sealed-secrets-controller ]; then
		# The controller's own SealedSecret CRD, for the test apiserver.
		local moddir
		moddir=$(cd "$root/$dir" && go list -m -f '{{.Dir}}' github.com/bitnami/sealed-secrets)
		mkdir -p "$root/.tools/sealed-secrets-crds"
		cp "$moddir/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml" "$root/.tools/sealed-secrets-crds/"
		chmod 644 "$root/.tools/sealed-secrets-crds/bitnami.com_sealedsecrets.yaml"
	fi
	if [ "$name" = external-secrets ]; then
		# The controller needs its own CRD bundle (generators included) in the test apiserver.
		local moddir
		moddir=$(cd "$root/$dir" && go list -m -f '{{.Dir}}' github.com/external-secrets/external-secrets)
		mkdir -p "$root/.tools/eso-crds"
		cp "$moddir/deploy/crds/bundle.yaml" "$root/.tools/eso-crds/bundle.yaml"
		chmod 644 "$root/.tools/eso-crds/bundle.yaml"
	fi
	[ -z "$sum" ] || echo "$sum" > "$stamp"
	echo "tools: built ${bins[*]} in $((SECONDS - start))s"
}

for w in "${want[@]}"; do
	found=0
	for s in "${specs[@]}"; do
		IFS='|' read -r name dir pkg <<<"$s"
		if [ "$name" = "$w" ]; then
			build "$name" "$dir" "$pkg"
			found=1
		fi
	done
	[ $found = 1 ] || { echo "tools: unknown tool $w" >&2; exit 2; }
done
