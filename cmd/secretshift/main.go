// Command secretshift moves plain Kubernetes Secrets into external secret stores and keeps an
// audit trail of what it did. See README.md.
package main

import (
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func main() {
	limitMemory()
	os.Exit(int(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)))
}

// limitMemory sets the Go memory limit from the container's. In a container with a memory
// limit (a pod's limits.memory, docker --memory), it keeps the Go heap under 90 % of it, as
// GOMEMLIMIT would: a large migration then collects garbage sooner instead of being killed.
// GOMEMLIMIT, when set, wins; AUTOMEMLIMIT=off turns this off, AUTOMEMLIMIT=0.8 takes 80 %.
// Outside a container, or with no limit, nothing changes.
func limitMemory() {
	_, _ = memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup))
}
