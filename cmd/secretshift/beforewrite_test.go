package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"golang.org/x/net/http2"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestBeforeWriteSaysRunAgain: a run stopped before its first write by a store that could not
// be reached, or whose answer was cut off, says that nothing was written and a re-run starts
// over; a refusal the user must fix is left as it is.
func TestBeforeWriteSaysRunAgain(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("list targets: list vault secret/shop/: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("open vault: %w", syscall.ECONNREFUSED),
		fmt.Errorf("read: %w", providers.ErrBusy),
		// What the fault proxy in front of a kube-apiserver made client-go return.
		fmt.Errorf("list secrets in all namespaces: %w", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/secrets", Err: http2.StreamError{StreamID: 3, Code: http2.ErrCodeInternal}}),
		fmt.Errorf("list secrets in all namespaces: %w", fmt.Errorf("stream error when reading response body: %w", http2.StreamError{StreamID: 9, Code: http2.ErrCodeInternal})),
		fmt.Errorf("list secrets in all namespaces: %w", apierrors.NewServiceUnavailable("service unavailable")),
		fmt.Errorf("list secrets in all namespaces: %w", apierrors.NewTooManyRequests("slow down", 1)),
	} {
		if got := beforeWrite(err).Error(); !strings.Contains(got, "nothing was written (0 Secrets); run the same command again") || !errors.Is(beforeWrite(err), errors.Unwrap(err)) {
			t.Errorf("%v: %q", err, got)
		}
	}
	for _, err := range []error{fmt.Errorf("open vault: %w", providers.ErrPermission), errors.New("kv version 1"),
		// A certificate the client does not trust stays so on a re-run.
		&url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: x509.UnknownAuthorityError{}},
		fmt.Errorf("list secrets: %w", apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no")))} {
		if got := beforeWrite(err); got != err {
			t.Errorf("%v became %q", err, got)
		}
	}
}

// TestListFailuresSayRunAgain: a cluster read whose only problems are lists the cluster did not
// answer asks for a re-run, not for fixed inputs; a broken object still asks for a fix.
func TestListFailuresSayRunAgain(t *testing.T) {
	lists := &kube.Discovery{Errors: []kube.ObjectError{{Origin: kube.Origin{Cluster: "https://127.0.0.1:6443"}, Kind: "Deployment", Message: "list deployments: the server is currently unable to handle the request"}}}
	if !listsOnly(lists) {
		t.Error("a failed workload list must count as a list failure")
	}
	broken := &kube.Discovery{Errors: append(lists.Errors, kube.ObjectError{Origin: kube.Origin{Cluster: "https://127.0.0.1:6443"}, Kind: "Secret", Namespace: "shop", Name: "db", Message: "bad data"})}
	if listsOnly(broken) || listsOnly(&kube.Discovery{}) {
		t.Error("a broken object, or no problem at all, is not a list failure")
	}
	files := &kube.Discovery{Errors: []kube.ObjectError{{Origin: kube.Origin{File: "in.yaml"}, Message: "not YAML"}}}
	if listsOnly(files) {
		t.Error("a manifest that cannot be read is not a list failure")
	}
}

// TestDoneSoFarCountsThePlan: a run stopped part-way counts what it did against the plan's
// Secrets, not against the items it reached.
func TestDoneSoFarCountsThePlan(t *testing.T) {
	rep := &migrate.Report{Items: []*migrate.ItemReport{{Result: migrate.ResultCreated}, {Result: migrate.ResultUnchanged}, {Result: migrate.ResultFailed}}}
	if got := doneSoFar(rep, 300); got != "2 of 300 Secrets were done before it" {
		t.Errorf("doneSoFar = %q", got)
	}
}
