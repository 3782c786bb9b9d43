package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugins/all"
	"github.com/turnpikegw/turnpike/internal/snapshot"
	"github.com/turnpikegw/turnpike/internal/upstream"
)

func newValidateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "validate -c kong.yml",
		Short: "Check a config: every error with its field path, exit 1; or a one-line summary, exit 0",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			if path == "" {
				return errors.New("a config file is required: turnpike validate -c kong.yml")
			}
			snap, err := loadAndCompile(path)
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					for _, e := range errs {
						fmt.Fprintln(cmd.OutOrStdout(), e.Error())
					}
					return exitError{code: 1, msg: fmt.Sprintf("%s: %d errors", path, len(errs))}
				}
				return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK: %s\n", path, snap.Summary)
			return nil
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "Kong declarative config file (YAML or JSON)")
	return cmd
}

// loadAndCompile runs every check the gateway runs at start-up, plugin
// configs included, without opening any listener.
func loadAndCompile(path string) (*snapshot.Snapshot, error) {
	model, err := config.Load(path, config.Options{})
	if err != nil {
		return nil, err
	}
	reg, err := plugin.NewRegistry(all.Registrations())
	if err != nil {
		return nil, err
	}
	pools := upstream.NewPools(upstream.DefaultPoolOptions)
	defer pools.Close()
	return snapshot.Compile(model, snapshot.Deps{Registry: reg, Pools: pools, Env: plugin.Env{Logger: slog.New(slog.DiscardHandler)}})
}
