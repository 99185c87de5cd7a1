package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// factory carries what every command needs: IO streams, global flags, and lazily built
// clients. Commands receive it instead of reaching for globals, so tests can run them with
// in-memory streams.
type factory struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	Kubeconfig    string
	Context       string
	Namespace     string
	AllNamespaces bool
	Selector      string
	Output        string
	Verbose       int

	// kubeUser is the identity the API server reports for our credentials, once a cluster was
	// read; it goes into audit records.
	kubeUser string

	// Getenv is os.Getenv, replaceable in tests.
	Getenv func(string) string
}

// Output formats accepted by -o.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func (f *factory) validateOutput() error {
	switch f.Output {
	case outputTable, outputJSON, outputYAML:
		return nil
	}
	return usageError("unknown output format %q: use table, json or yaml", f.Output)
}

// machineOutput reports whether stdout carries JSON or YAML for programs.
func (f *factory) machineOutput() bool { return f.Output == outputJSON || f.Output == outputYAML }

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// logger returns a logger to stderr. -v shows info, -vv debug; by default only warnings.
func (f *factory) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case f.Verbose >= 2:
		level = slog.LevelDebug
	case f.Verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(f.ErrOut, &slog.HandlerOptions{Level: level}))
}

// kubeLoader returns the kubeconfig loader honouring --kubeconfig, --context and -n, with the
// same precedence as kubectl (flags, then KUBECONFIG, then ~/.kube/config, then in-cluster).
func (f *factory) kubeLoader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.Kubeconfig != "" {
		rules.ExplicitPath = f.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.Context}
	if f.Namespace != "" {
		overrides.Context.Namespace = f.Namespace
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// restConfig builds a client configuration for the selected cluster.
func (f *factory) restConfig() (*rest.Config, error) {
	cfg, err := f.kubeLoader().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	return cfg, nil
}

// namespace returns the namespace selected by -n or the kubeconfig context ("" with -A).
func (f *factory) namespace() (string, error) {
	if f.AllNamespaces {
		return "", nil
	}
	if f.Namespace != "" {
		return f.Namespace, nil
	}
	ns, _, err := f.kubeLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("determine namespace: %w", err)
	}
	return ns, nil
}

func newRootCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secretshift",
		Short: "Move plain Kubernetes Secrets into real secret stores, and keep them fresh",
		Long: `secretshift finds plain Kubernetes Secrets, migrates them into HashiCorp Vault (KV v2, OpenBao too)
or SOPS-encrypted files (Azure Key Vault and Sealed Secrets are planned), generates External Secrets
Operator manifests so workloads keep their Secret names, and records every change in a tamper-evident
audit log.

Secret values are never printed: output shows key names, sizes and keyed fingerprints.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return f.validateOutput()
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&f.Context, "context", "", "kubeconfig context to use")
	pf.StringVarP(&f.Namespace, "namespace", "n", "", "namespace to work in (default: the context's namespace)")
	pf.BoolVarP(&f.AllNamespaces, "all-namespaces", "A", false, "work across all namespaces")
	pf.StringVarP(&f.Selector, "selector", "l", "", "label selector for Secrets (e.g. app=web,tier!=cache)")
	pf.StringVarP(&f.Output, "output", "o", outputTable, "output format: table, json or yaml")
	pf.CountVarP(&f.Verbose, "verbose", "v", "log more to stderr (-v info, -vv debug); never secret values")

	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })

	for _, add := range subcommands {
		cmd.AddCommand(add(f))
	}
	return cmd
}

// subcommands lists the command constructors in help order.
var subcommands = []func(*factory) *cobra.Command{
	newDiscoverCmd,
	newPlanCmd,
	newMigrateCmd,
	newApplyCmd,
	newVerifyCmd,
	newAuditCmd,
	newVersionCmd,
}

// Main runs the CLI with the given arguments and streams and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) ExitCode {
	f := &factory{In: stdin, Out: stdout, ErrOut: stderr, Getenv: os.Getenv}
	cmd := newRootCmd(f)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	err := cmd.ExecuteContext(ctx)
	code := exitCodeFor(err)
	if err != nil && err.Error() != "" {
		printError(stderr, err)
	}
	return code
}

// printError writes err the way all secretshift errors look: "secretshift: <message>", with
// any hint lines (after a blank line in the message) indented below.
func printError(w io.Writer, err error) {
	msg := err.Error()
	first, rest, _ := strings.Cut(msg, "\n")
	fmt.Fprintf(w, "secretshift: %s\n", first)
	if rest != "" {
		for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}
