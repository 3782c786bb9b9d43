// Command turnpike is the Turnpike API gateway.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/turnpikegw/turnpike/internal/cli"
)

func main() {
	os.Exit(run())
}

// run is the command, with the CPU profile `make pgo` records for
// profile-guided optimisation: TURNPIKE_CPU_PROFILE names the file, written
// when the command returns (a gateway returns once SIGTERM has drained it).
func run() int {
	if path := os.Getenv("TURNPIKE_CPU_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "TURNPIKE_CPU_PROFILE:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "TURNPIKE_CPU_PROFILE:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	return cli.Execute(os.Args[1:], os.Stdout, os.Stderr)
}
