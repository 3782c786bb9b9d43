// Package resolver is the gateway's DNS client, with Kong's dns_* settings:
// it resolves the names of targets and service hosts (hosts file, then A,
// AAAA, SRV and CNAME records in the configured order), keeps each answer
// fresh in the background for as long as a configuration names it, and says
// when an answer changed. Balancers are built from its cache, so no request
// ever waits for DNS.
package resolver
