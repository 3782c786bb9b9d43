// Package reload applies new configurations to a running gateway. Every
// trigger (SIGHUP, a change of the config file, POST /config on the admin
// API) goes through one Loader: parse, validate, compile, then one atomic
// swap of the snapshot. An invalid config is rejected with all its errors
// and the old one stays in force; requests in flight finish on the
// snapshot they started with.
package reload
