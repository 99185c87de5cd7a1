// Command vault-testserver serves Vault's HTTP API from memory for local tests, like
// "vault server -dev": KV version 2 at secret/, one root token, loopback only. The KV engine is
// Vault's own (see package internal/testenv/vaultapi for what is Vault's code and what is not).
//
//	vault-testserver -addr 127.0.0.1:8200 -root-token root [-kv-v1 kv] [-kv-v2 secret,team]
//
// It prints the address on stderr and stops on SIGINT or SIGTERM; all data is lost then.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vault-testserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8200", "loopback `host:port` to listen on (port 0 picks a free one)")
	token := fs.String("root-token", vaultapi.DefaultRootToken, "the only `token` accepted")
	v2 := fs.String("kv-v2", "secret", "comma-separated `paths` of KV version 2 mounts")
	v1 := fs.String("kv-v1", "", "comma-separated `paths` of KV version 1 mounts")
	logRequests := fs.Bool("log", false, "log one line per request (method, path, status) on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vault-testserver: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	opts := vaultapi.Options{
		RootToken:  *token,
		KVv2Mounts: splitList(*v2),
		KVv1Mounts: splitList(*v1),
	}
	if *logRequests {
		opts.RequestLog = stderr
	}
	srv, err := vaultapi.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "vault-testserver: %v\n", err)
		return 1
	}
	url, err := srv.Start(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "vault-testserver: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "vault-testserver: listening on %s (kv v2: %s; kv v1: %s)\n", url,
		orNone(opts.KVv2Mounts), orNone(opts.KVv1Mounts))
	fmt.Fprintf(stderr, "VAULT_ADDR=%s\n", url)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "vault-testserver: %v\n", err)
		return 1
	}
	return 0
}

// splitList returns the non-empty comma-separated elements of s; never nil, so that an empty
// flag means "no mounts" rather than the default mount.
func splitList(s string) []string {
	out := []string{}
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func orNone(ps []string) string {
	if len(ps) == 0 {
		return "none"
	}
	return strings.Join(ps, ", ")
}
