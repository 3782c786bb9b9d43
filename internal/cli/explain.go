package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/explain"
	"github.com/turnpikegw/turnpike/internal/reload"
)

func newExplainCmd() *cobra.Command {
	var (
		path     string
		headers  []string
		sni      string
		consumer string
		asJSON   bool
		expand   bool
	)
	cmd := &cobra.Command{
		Use:   "explain -c kong.yml METHOD URL [-H 'Name: value' ...]",
		Short: "Show which route a request matches and why, the plugins that run and the upstream URL",
		Long: `Explain runs the router on one request against a config, without starting the
gateway: the route that matches and the path that matched, the other routes
that matched with the priority rule that ranked each lower (more criteria,
plain host, header count, regex, regex_priority, longer prefix, and at equal
priority the route id as in Kong), the plugins that would run in order with their scope, and the upstream
URL after strip_path and path joining. When nothing matches it says which
routes came closest and which criterion failed. Exit 1 only for a bad config
or request.`,
		Example: `  turnpike explain -c kong.yml GET 'http://api.example.com/v1/users/7' -H 'X-Tenant-Id: t1'`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				return errors.New("a config file is required: turnpike explain -c kong.yml METHOD URL")
			}
			req := explain.Request{Method: args[0], URL: args[1], Header: http.Header{}, SNI: sni, Consumer: consumer}
			for _, h := range headers {
				name, value, ok := strings.Cut(h, ":")
				name = strings.TrimSpace(name)
				if !ok || name == "" {
					return exitError{code: 1, msg: fmt.Sprintf("invalid header %q: want 'Name: value'", h)}
				}
				req.Header.Add(name, strings.TrimSpace(value))
			}
			snap, err := loadAndCompile(path, reload.DefaultLimits, config.Options{ExpandEnv: expand})
			if err != nil {
				var errs config.Errors
				if errors.As(err, &errs) {
					for _, e := range errs {
						fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
					}
					return exitError{code: 1, msg: fmt.Sprintf("%s: %d errors", path, errs.Total())}
				}
				return exitError{code: 1, msg: fmt.Sprintf("%s: %v", path, err)}
			}
			rep, err := explain.Explain(snap, req)
			if err != nil {
				return exitError{code: 1, msg: err.Error()}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				return enc.Encode(rep)
			}
			_, err = fmt.Fprint(out, rep.Text())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&path, "config", "c", "", "Kong declarative config file (YAML or JSON)")
	f.BoolVar(&expand, "expand-env", false, expandEnvUsage)
	f.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable); a Host header replaces the URL's host")
	f.StringVar(&sni, "sni", "", "TLS server name (default: the host of an https URL)")
	f.StringVar(&consumer, "consumer", "", "consumer username, custom_id or id: show the plugin instances for this consumer")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
