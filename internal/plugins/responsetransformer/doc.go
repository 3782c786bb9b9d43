// Package responsetransformer is Kong's response-transformer plugin: it
// removes, renames, replaces, adds and appends response headers and
// top-level fields of JSON response bodies. Header rules run in the header
// filter; a JSON body is read whole (up to a limit) only when a json rule
// exists, and edited as spans of its top-level members, so that no value
// is decoded and any other body streams through untouched.
package responsetransformer
