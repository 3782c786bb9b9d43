// Package kube is the Kubernetes controller mode (`turnpike run
// --kubernetes`): client-go informers watch the cluster's Ingresses of the
// gateway's class, Services, EndpointSlices, Secrets, Kong's KongPlugin,
// KongClusterPlugin and KongConsumer and, when asked, Istio's Gateway,
// VirtualService and DestinationRule; after each burst of changes the
// objects go through the same importers as `turnpike import` (package
// importer), backends become their pods' addresses (EndpointSlices, no
// DNS), and the result is applied through the same reload path as a
// file. An object whose part of the config does not validate is left out
// and reported as an Event on it; the rest still applies. Ingresses get
// the gateway's address in their status.
package kube
