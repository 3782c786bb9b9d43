package external

import (
	"net/http"

	"github.com/turnpikegw/turnpike/internal/plugin"
	"github.com/turnpikegw/turnpike/internal/plugin/oidc"
)

// consumerMap finds the consumer a token's claim names.
type consumerMap struct {
	claims []string
	by     []string
}

const msgNoConsumer = "The access token names no known consumer"

// find returns the consumer of the first of the claims the token has;
// nil when none is configured. A token naming no known consumer is
// refused: a route mapping tokens to consumers expects one (ACLs, rate
// limits per consumer).
func (m *consumerMap) find(c *plugin.Ctx, claims *oidc.Claims) (*plugin.Consumer, *plugin.Exit) {
	if len(m.claims) == 0 {
		return nil, nil
	}
	for _, name := range m.claims {
		v, ok := claims.Claim(name)
		if !ok || v == "" || c.Directory == nil {
			continue
		}
		for _, by := range m.by {
			var (
				consumer *plugin.Consumer
				found    bool
			)
			switch by {
			case "custom_id":
				consumer, found = c.Directory.ConsumerByCustomID(v)
			case "id":
				consumer, found = c.Directory.ConsumerByID(v)
			default:
				consumer, found = c.Directory.ConsumerByUsername(v)
			}
			if found {
				return consumer, nil
			}
		}
	}
	return nil, ErrorExit(http.StatusForbidden, nil, "access_denied", msgNoConsumer)
}
