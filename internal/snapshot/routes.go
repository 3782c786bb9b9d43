package snapshot

import (
	"errors"
	"strconv"

	"github.com/turnpikegw/turnpike/internal/config"
	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/router"
)

func (c *compiler) routes() {
	rr := make([]router.Route, len(c.m.Routes))
	for i, re := range c.m.Routes {
		if c.ctx.Err() != nil {
			return
		}
		r := re.Route
		route := &Route{
			Info: plugin.RouteInfo{
				ID: re.ID, Name: r.Name, Paths: r.Paths, Entity: c.routeEntity(re),
			},
			HTTPSRedirectStatus: r.HTTPSRedirectStatusCode,
			StripPath:           r.StripPathValue(),
			PreserveHost:        r.PreserveHost,
		}
		for _, p := range r.Protocols {
			switch p {
			case "http":
				route.HTTP = true
			case "https":
				route.HTTPS = true
			case "grpc":
				route.GRPC = true
			case "grpcs":
				route.GRPCS = true
			default:
				c.fail(re.Path+".protocols", "protocol '%s' is not supported by the HTTP proxy", p)
			}
		}
		if re.Service != nil {
			route.Service = c.servicesByEntry[re.Service]
		}
		c.snap.Routes = append(c.snap.Routes, route)
		if !RouteEnabled(re) {
			// Kong leaves the routes of a disabled service out of the
			// router. Here they stay routes without criteria, which never
			// match and keep the indexes of the others (config validation
			// has checked their criteria all the same).
			continue
		}
		rr[i] = RouterRoute(route.Info.ID, r)
	}
	rt, err := router.New(rr)
	if err != nil {
		var ce *router.CompileError
		if errors.As(err, &ce) && ce.Route >= 0 && ce.Route < len(c.m.Routes) {
			path := c.m.Routes[ce.Route].Path + "." + ce.Field
			if ce.Index >= 0 {
				path += "[" + strconv.Itoa(ce.Index) + "]"
			}
			c.fail(path, "%s", ce.Msg)
		} else {
			c.fail("routes", "%v", err)
		}
		return
	}
	c.snap.Router = rt
}

// RouteEnabled reports whether a route takes part in routing: not when its
// service has `enabled: false` (Kong treats such routes as absent).
func RouteEnabled(re *config.RouteEntry) bool {
	return re.Service == nil || re.Service.Service.Enabled
}
