// Package plugin is the plugin SDK: the registration record every plugin
// provides, the phase interfaces it may implement, the per-request context
// they share, the typed Exit error through which a plugin answers a
// request itself, and the generic services (Env) and optional hooks
// (Closer, Reloader, TLSUser, AdminRoute) through which a plugin reaches
// the gateway. It knows no plugin by name. Plugins import this package,
// internal/store and leaf utilities (internal/jsonw), never proxy,
// snapshot, admin or each other (internal/archtest checks it).
package plugin
