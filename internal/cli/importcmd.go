package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/configstore"
	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/ingress"
	"github.com/turnpikegw/turnpike/internal/importer/istio"
	"github.com/turnpikegw/turnpike/internal/importer/openapi"
	"github.com/turnpikegw/turnpike/internal/reload"
)

// importFlags are the flags every format shares.
type importFlags struct {
	inputs []string
	output string
	strict bool
}

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import {ingress|istio|openapi} -f FILE [-f FILE ...] [-o kong.yml] [--strict]",
		Short: "Write a Kong declarative config from Kubernetes, Istio or OpenAPI/AWS descriptions",
		Long: `Import reads other systems' configuration and writes a Kong 3.0 declarative
config that turnpike validate accepts, sorted and with stable names so that it
diffs well. Every construct that could not be mapped is a warning on standard
error naming the object, the field and why; --strict makes warnings an error
(exit 1, nothing written).

-f takes a file (several YAML documents allowed), a directory (every .yaml,
.yml and .json file in it, in name order) or - for standard input, and may be
repeated.`,
	}
	cmd.AddCommand(
		newImportFormatCmd("openapi", "OpenAPI 3.0/3.1 or Swagger 2.0, with the x-kong-* and AWS API Gateway extensions", openapiFlags),
		newImportFormatCmd("ingress", "Kubernetes Ingress with NGINX and Kong annotations, KongPlugin and KongConsumer", ingressFlags),
		newImportFormatCmd("istio", "Istio Gateway, VirtualService and DestinationRule (networking.istio.io v1, v1beta1, v1alpha3)", istioFlags),
	)
	return cmd
}

// formatRun adds a format's flags and returns the import to run.
type formatRun func(cmd *cobra.Command) importer.ImportFunc

func openapiFlags(cmd *cobra.Command) importer.ImportFunc {
	var vars []string
	cmd.Flags().StringArrayVar(&vars, "stage-variable", nil, "NAME=VALUE for ${stageVariables.NAME} in AWS integration URIs (repeatable)")
	return func(docs []importer.Document, cfg *importer.Config, ws *importer.Warnings) error {
		opts := openapi.Options{StageVariables: map[string]string{}}
		for _, v := range vars {
			name, value, ok := strings.Cut(v, "=")
			if !ok || name == "" {
				return fmt.Errorf("--stage-variable %q: want NAME=VALUE", v)
			}
			opts.StageVariables[name] = value
		}
		return openapi.Import(docs, opts, cfg, ws)
	}
}

func ingressFlags(cmd *cobra.Command) importer.ImportFunc {
	var opts ingress.Options
	cmd.Flags().StringVar(&opts.ServiceDomain, "service-domain", "svc", "upstream hosts are NAME.NAMESPACE.DOMAIN")
	cmd.Flags().StringVar(&opts.IngressClass, "ingress-class", "", "import only the Ingresses of this class (others are skipped with a warning)")
	return func(docs []importer.Document, cfg *importer.Config, ws *importer.Warnings) error {
		return ingress.Import(docs, opts, cfg, ws)
	}
}

func istioFlags(cmd *cobra.Command) importer.ImportFunc {
	var opts istio.Options
	cmd.Flags().StringVar(&opts.ServiceDomain, "service-domain", "svc.cluster.local", "domain of destination hosts given by short name: NAME.NAMESPACE.DOMAIN")
	return func(docs []importer.Document, cfg *importer.Config, ws *importer.Warnings) error {
		return istio.Import(docs, opts, cfg, ws)
	}
}

func newImportFormatCmd(format, short string, flags formatRun) *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   format + " -f FILE [-f FILE ...] [-o kong.yml] [--strict]",
		Short: short,
		Args:  cobra.NoArgs,
	}
	run := flags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		docs, err := importer.Read(f.inputs, cmd.InOrStdin(), importer.DefaultLimits)
		if err != nil {
			return exitError{code: 1, msg: err.Error()}
		}
		var (
			cfg importer.Config
			ws  importer.Warnings
		)
		if err := run(docs, &cfg, &ws); err != nil {
			return exitError{code: 1, msg: err.Error()}
		}
		for _, w := range ws {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w.String())
		}
		if f.strict {
			if err := ws.Strict(); err != nil {
				return exitError{code: 1, msg: err.Error()}
			}
		}
		out, err := cfg.YAML()
		if err != nil {
			return exitError{code: 1, msg: err.Error()}
		}
		if _, err := check("import", reload.DefaultLimits, config.Options{}, func() ([]byte, error) { return out, nil }); err != nil {
			// Plugin configs pass through as written (KongPlugin config,
			// x-kong-plugin-*): a mistake there is the input's; anything
			// else is the importer's.
			return exitError{code: 1, msg: "the imported config does not validate (an invalid plugin config in the input, or else a bug in the importer: please report it):\n" + err.Error()}
		}
		return writeOutput(cmd, f.output, out)
	}
	cmd.Flags().StringArrayVarP(&f.inputs, "file", "f", nil, "input file, directory or - for standard input (repeatable)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write the config to this file (default: standard output)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "treat every warning as an error: exit 1 and write nothing")
	return cmd
}

// writeOutput writes to the file atomically, so that a failed import
// never leaves half a config behind.
func writeOutput(cmd *cobra.Command, path string, out []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(out)
		return err
	}
	if err := configstore.WriteFileAtomic(path, out, 0o644); err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	return nil
}
