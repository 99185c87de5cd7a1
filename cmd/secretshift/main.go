// Command secretshift moves plain Kubernetes Secrets into external secret stores and keeps an
// audit trail of what it did. See README.md.
package main

import "os"

func main() {
	os.Exit(int(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}
