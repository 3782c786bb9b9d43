package kube

import (
	"slices"

	"github.com/turnpikegw/turnpike/internal/importer"
	"github.com/turnpikegw/turnpike/internal/importer/ingress"
	"github.com/turnpikegw/turnpike/internal/importer/istio"
)

// built is a config made from some of the units.
type built struct {
	data     []byte
	warnings importer.Warnings
	err      error
}

// build imports units with every supporting object, through the same
// importers as `turnpike import`, and points the backends at their pods.
func build(objs *objects, units []*unit, eps *endpoints, opts Options) built {
	var (
		cfg importer.Config
		ws  importer.Warnings
	)
	domain := "svc." + opts.ClusterDomain
	ing := slices.Clone(objs.ingressSupport)
	var ist []importer.Document
	for _, u := range units {
		if u.istio {
			ist = append(ist, u.doc)
		} else {
			ing = append(ing, u.doc)
		}
	}
	if len(ing) > 0 {
		if err := ingress.Import(ing, ingress.Options{ServiceDomain: domain}, &cfg, &ws); err != nil {
			return built{warnings: ws, err: err}
		}
	}
	if len(ist) > 0 {
		if err := istio.Import(append(slices.Clone(objs.istioSupport), ist...), istio.Options{ServiceDomain: domain}, &cfg, &ws); err != nil {
			return built{warnings: ws, err: err}
		}
	}
	dropTakeovers(&cfg, objs, &ws)
	podTargets(&cfg, eps, domain)
	data, err := cfg.YAML()
	return built{data: data, warnings: ws, err: err}
}
