// Package redirect is Kong's redirect plugin (Kong 3.9): it answers every
// request of its scope with a redirect to a configured URL, optionally
// carrying the request's path and query string over to it.
package redirect
