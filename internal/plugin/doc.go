// Package plugin is the plugin SDK: the registration record every plugin
// provides, the phase interfaces it may implement, the per-request context
// they share, and the typed Exit error through which a plugin answers a
// request itself. Plugins import this package (and store, observe), never
// proxy, server or each other.
package plugin
