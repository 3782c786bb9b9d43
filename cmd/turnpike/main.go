// Command turnpike is the Turnpike API gateway.
package main

import (
	"os"

	"github.com/turnpikegw/turnpike/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr))
}
