package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/reload"
	"github.com/turnpikegw/turnpike/internal/snapshot"
)

func newValidateCmd() *cobra.Command {
	var (
		path      string
		expandEnv bool
	)
	limits := reload.DefaultLimits
	cmd := &cobra.Command{
		Use:   "validate -c kong.yml",
		Short: "Check a config: every error with its field path, exit 1; or its warnings and a one-line summary, exit 0",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			if path == "" {
				return errors.New("a config file is required: turnpike validate -c kong.yml")
			}
			snap, err := loadAndCompile(path, limits, config.Options{ExpandEnv: expandEnv})
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					for _, e := range errs {
						fmt.Fprintln(cmd.OutOrStdout(), e.Error())
					}
					return exitError{code: 1, msg: fmt.Sprintf("%s: %d errors", path, errs.Total())}
				}
				return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
			}
			for _, w := range snap.Model.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.Error())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK: %s\n", path, snap.Summary)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "Kong declarative config file (YAML or JSON)")
	cmd.Flags().BoolVar(&expandEnv, "expand-env", false, expandEnvUsage)
	cmd.Flags().Int64Var(&limits.MaxSize, "config-max-size", reload.DefaultLimits.MaxSize, "largest configuration in bytes; a larger file is refused without being read (0: no limit)")
	cmd.Flags().DurationVar(&limits.Timeout, "config-load-timeout", reload.DefaultLimits.Timeout, "give up a check that takes longer (0: no limit)")
	cmd.Flags().Uint64Var(&limits.Memory, "config-load-memory", reload.DefaultLimits.Memory, "give up a check once the heap has grown by more than this many bytes, and refuse a document of more values than one per 700 bytes of it (0: neither)")
	return cmd
}

// expandEnvUsage describes --expand-env, the same on every command that
// loads a file.
const expandEnvUsage = "expand ${NAME} in the config's strings from the environment ($${ for a literal ${); without it ${...} is text, as in Kong. {vault://env/name} references are resolved either way"

// loadAndCompile runs every check the gateway runs at start-up, plugin
// configs included, without opening any listener, under the same limits
// as a load: size (the file is read no further), time and memory.
func loadAndCompile(path string, limits reload.Limits, opts config.Options) (*snapshot.Snapshot, error) {
	return check(path, limits, opts, func() ([]byte, error) { return reload.ReadFile(path, limits.MaxSize) })
}

// check runs those checks on what read returns (source names it in
// messages): `turnpike validate` on a file, `turnpike import` on its output.
func check(source string, limits reload.Limits, opts config.Options, read func() ([]byte, error)) (*snapshot.Snapshot, error) {
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		return nil, err
	}
	// No upstream runtime: Check compiles against one of its own.
	deps := snapshot.Deps{Registry: reg, Env: plugin.Env{Logger: slog.New(slog.DiscardHandler)}}
	l := reload.New(&snapshot.Holder{}, deps, source, opts, nil)
	l.SetLimits(limits)
	return l.Check(read)
}
