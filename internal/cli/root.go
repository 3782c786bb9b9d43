package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "0.1.0-dev"

// Execute runs the command line and returns the process exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "turnpike",
		Short:         "Turnpike is a fast API gateway that runs Kong declarative configs unchanged",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newDemoCmd(), newValidateCmd(), newVersionCmd(), newExplainCmd(), newImportCmd())
	if err := root.Execute(); err != nil {
		var ee exitError
		if asExit(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(stderr, ee.msg)
			}
			return ee.code
		}
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}

// exitError ends the command with a code, having already said why.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func asExit(err error, target *exitError) bool {
	ee, ok := err.(exitError)
	if ok {
		*target = ee
	}
	return ok
}

// bindEnv gives every flag an environment variable, TURNPIKE_ plus the
// flag name in upper snake case; a flag given on the command line wins.
// Every bad value is reported, not just the first.
func bindEnv(flags *pflag.FlagSet) error {
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "TURNPIKE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", name, v, err))
				return
			}
			f.Changed = true
		}
	})
	return errors.Join(errs...)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "turnpike", Version)
			return nil
		},
	}
}
