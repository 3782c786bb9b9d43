// Package requesttransformer is Kong's request-transformer plugin: before
// proxying it rewrites the upstream method, path, headers, query string and
// (form, JSON or multipart) body, applying remove, rename, replace, add and
// append in Kong's order. Values may be Kong templates: each `$(...)` is
// parsed at load into a small expression tree over the part of Lua that
// real configs use (lookups in headers, query_params and uri_captures,
// strings, .., or, and, ==, ~=, type, :lower, :upper); anything else is
// refused when the config is validated.
package requesttransformer
